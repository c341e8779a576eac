"""OTLP responses: Export*ServiceResponse with partial_success, and google.rpc.Status for errors,
in the request's encoding (protobuf or JSON)."""

from __future__ import annotations

import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from apps.ingest.body import PROTOBUF

_RESPONSES = {
    "traces": (ExportTraceServiceResponse, "rejected_spans", "rejectedSpans"),
    "logs": (ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords"),
    "metrics": (ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints"),
}


def export_response(signal: str, media: str, rejected: int, message: str) -> bytes:
    """The success body; ``partial_success`` only when something was rejected (or a warning is given)."""
    message_type, field, json_field = _RESPONSES[signal]
    if media == PROTOBUF:
        response = message_type()
        if rejected or message:
            setattr(response.partial_success, field, rejected)
            response.partial_success.error_message = message
        return response.SerializeToString()
    body: dict[str, object] = {}
    if rejected or message:
        # int64 fields are strings in OTLP/JSON
        body["partialSuccess"] = {json_field: str(rejected), "errorMessage": message}
    return json.dumps(body).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def status_body(media: str, grpc_code: int, message: str) -> bytes:
    """google.rpc.Status {code = 1; message = 2}: encoded by hand, it is two fields."""
    if media == PROTOBUF:
        text = message.encode()
        return b"\x08" + _varint(grpc_code) + b"\x12" + _varint(len(text)) + text
    return json.dumps({"code": grpc_code, "message": message}).encode()
