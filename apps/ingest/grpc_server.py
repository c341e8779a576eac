"""OTLP/gRPC receiver (TraceService, and LogsService/MetricsService as their stores arrive) on
127.0.0.1:4317 by default. Same key auth (metadata), decoding, limits and writing as OTLP/HTTP.

grpcio decompresses (gzip) and enforces the message size limit itself (RESOURCE_EXHAUSTED);
``maximum_concurrent_rpcs`` bounds the requests in flight (RESOURCE_EXHAUSTED beyond it), so
memory stays bounded. Refusals use the status codes the OTLP specification names:
UNAUTHENTICATED, INVALID_ARGUMENT (not retried), RESOURCE_EXHAUSTED and UNAVAILABLE (retried).
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, close_old_connections
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from apps.ingest import pipeline, ratelimit
from apps.ingest.auth import IngestAuthError, authenticate
from apps.ingest.body import PROTOBUF
from apps.otlp.types import DecodeError

logger = logging.getLogger("vigil.ingest.grpc")


def _export(request: bytes, context: grpc.ServicerContext, signal: str, response: Any, field: str) -> Any:
    close_old_connections()
    try:
        principal = authenticate({key.lower(): value for key, value in context.invocation_metadata()})
        outcome = pipeline.ingest_request(principal, signal, PROTOBUF, request)
    except IngestAuthError as exc:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    except DecodeError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    except ratelimit.RateLimited as exc:
        context.set_trailing_metadata((("retry-after", str(exc.retry_after)),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "This project sends more than its ingest rate limit.")
    except DataError as exc:  # a value PostgreSQL refuses: retrying would fail the same way
        logger.error("ingest refused: the database rejected a value", exc_info=True)
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"A value cannot be stored: {exc}".splitlines()[0])
    except (OperationalError, InterfaceError):
        logger.warning("ingest refused: database unavailable or slow", exc_info=True)
        context.set_trailing_metadata((("retry-after", str(settings.VIGIL_INGEST_RETRY_AFTER_SECONDS)),))
        context.abort(grpc.StatusCode.UNAVAILABLE, "The database is unavailable or slow; nothing was stored.")
    finally:
        close_old_connections()
    if outcome.rejected or outcome.message:
        setattr(response.partial_success, field, outcome.rejected)
        response.partial_success.error_message = outcome.message
    return response


# service name -> (signal, response type, partial-success field)
_SERVICES = {
    "opentelemetry.proto.collector.trace.v1.TraceService": (
        "traces",
        trace_service_pb2.ExportTraceServiceResponse,
        "rejected_spans",
    ),
    "opentelemetry.proto.collector.logs.v1.LogsService": (
        "logs",
        logs_service_pb2.ExportLogsServiceResponse,
        "rejected_log_records",
    ),
    "opentelemetry.proto.collector.metrics.v1.MetricsService": (
        "metrics",
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
}


def _handler(signal: str, response_type: Any, field: str) -> grpc.RpcMethodHandler:
    """Export takes the request as raw bytes (no deserializer): our decoder parses it, so a corrupted
    message is INVALID_ARGUMENT with a reason instead of grpcio's INTERNAL, and the fast decoder is used."""

    def export(request: bytes, context: grpc.ServicerContext) -> Any:
        return _export(request, context, signal, response_type(), field)

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=lambda message: message.SerializeToString()
    )


def build_server(address: str) -> grpc.Server:
    """A server with every OTLP service Vigil stores, not yet started."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.VIGIL_INGEST_MAX_CONCURRENCY),
        maximum_concurrent_rpcs=settings.VIGIL_INGEST_MAX_CONCURRENCY * 4,
        options=[
            ("grpc.max_receive_message_length", settings.VIGIL_INGEST_MAX_BODY_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(service, {"Export": _handler(*spec)})
            for service, spec in _SERVICES.items()
        ]
    )
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen on {address}: is another process using the port?")
    return server
