"""gzip and deflate answers, decoded up to a size.

A small compressed body can stand for gigabytes (a decompression bomb), so the decoded
size is bounded as it grows, never checked afterwards. Output comes in bounded steps,
and past the first one the event loop gets a turn between steps: a large decode does not
hold up every other request in the process.
"""

from __future__ import annotations

import asyncio
import zlib

from adapters.http1 import Headers, ProtocolError

STEP_BYTES = 256 * 1024
"""Decoded bytes produced between two turns of the event loop."""


def content_encoding(headers: Headers) -> bytes:
    for name, value in headers:
        if name.lower() == b"content-encoding":
            return value.strip().lower()
    return b""


async def decoded(encoding: bytes, body: bytes, *, max_bytes: int) -> bytes:
    """`body` decoded per its `Content-Encoding` (gzip or deflate; any other label is
    left to the JSON parser to judge); ProtocolError when it is corrupt or would decode
    to more than `max_bytes`."""
    if encoding in (b"gzip", b"x-gzip"):
        return await _inflate(body, zlib.MAX_WBITS | 16, max_bytes)
    if encoding == b"deflate":
        try:
            return await _inflate(body, zlib.MAX_WBITS, max_bytes)
        except _Corrupt:
            return await _inflate(body, -zlib.MAX_WBITS, max_bytes)  # raw deflate, as some send
    return body  # identity, or a label some servers send for no encoding at all


class _Corrupt(ProtocolError):
    pass


async def _inflate(body: bytes, wbits: int, max_bytes: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    pending = body
    try:
        while True:
            part = decoder.decompress(pending, STEP_BYTES)
            parts.append(part)
            size += len(part)
            if size > max_bytes:
                raise ProtocolError(f"an answer that decodes to over {max_bytes} bytes")
            pending = decoder.unconsumed_tail
            if decoder.eof or (not pending and len(part) < STEP_BYTES):
                break
            await asyncio.sleep(0)
        rest = decoder.flush()  # at most a few hundred bytes once the input is used up
    except zlib.error as exc:
        raise _Corrupt(f"a corrupt compressed body: {exc}") from exc
    if not decoder.eof:
        raise _Corrupt("a compressed body cut short")
    if size + len(rest) > max_bytes:
        raise ProtocolError(f"an answer that decodes to over {max_bytes} bytes")
    parts.append(rest)
    return b"".join(parts)
