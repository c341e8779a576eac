"""Request bodies: content types, decompression with a limit that stops gzip bombs early."""

from __future__ import annotations

import zlib

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class BodyError(Exception):
    """A body we refuse; ``status`` is the HTTP status to answer (413, 415, 400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def media_type(content_type: str) -> str:
    """``application/x-protobuf`` or ``application/json``; BodyError(415) for anything else."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if media == JSON:
        return JSON
    raise BodyError(415, f"Content-Type must be {PROTOBUF} or {JSON}, got {media or 'nothing'!r}.")


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body after ``Content-Encoding`` (identity, gzip, deflate), never more than ``limit`` bytes.

    Decompression stops as soon as the output passes the limit, so a small
    gzip bomb costs at most ``limit`` bytes of memory before it is refused.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > limit:
            raise BodyError(413, f"The body is {len(raw)} bytes; the limit is {limit} bytes. Send smaller batches.")
        return raw
    if encoding == "gzip":
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        # RFC 9110's deflate is zlib-wrapped (first byte 0x78); some clients send raw deflate.
        wrapped = raw[:1] == b"\x78"
        decompressor = zlib.decompressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    else:
        raise BodyError(415, f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none.")
    try:
        out = decompressor.decompress(raw, limit + 1)
        if len(out) > limit or decompressor.unconsumed_tail:
            raise BodyError(413, f"The body is larger than {limit} bytes after decompression. Send smaller batches.")
        out += decompressor.flush()
    except zlib.error as exc:
        raise BodyError(400, f"The body is not valid {encoding} data: {exc}.") from exc
    if len(out) > limit:
        raise BodyError(413, f"The body is larger than {limit} bytes after decompression. Send smaller batches.")
    if not decompressor.eof:
        raise BodyError(400, f"The {encoding} body is truncated.")
    return out
