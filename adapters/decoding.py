"""gzip and deflate answers, decoded up to a size.

A small compressed body can stand for gigabytes (a decompression bomb), so the decoded
size is bounded as it grows, never checked afterwards. Output comes in bounded steps,
and past the first one the event loop gets a turn between steps: a large decode does not
hold up every other request in the process.

A gzip body may be several members one after the other (RFC 1952), all of them decoded as
`gzip.decompress` does: NUL padding may follow the last, anything else is corrupt. zlib
copies out whatever it was given past a member's end, so members after the first are fed
in doubling slices: what is copied stays within the size of the member, and a body of
many tiny members costs time in proportion to its size, not to its size times their
number (`gzip.decompress` takes minutes over 8 MiB of empty members).
"""

from __future__ import annotations

import asyncio
import re
import zlib

from adapters.http1 import Headers, ProtocolError

STEP_BYTES = 256 * 1024
"""Decoded bytes produced between two turns of the event loop."""

MEMBER_WORK = 1024
"""What starting a gzip member counts as, in decoded bytes, toward a step: a body of
thousands of empty members takes turns too."""

MEMBER_SLICE_BYTES = 1024
"""Input fed to a later gzip member's first call to zlib; each next slice is twice the
last. The first member (most answers have no other) is fed the whole body at once."""

_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_NOT_PADDING = re.compile(rb"[^\x00]")


def content_encoding(headers: Headers) -> bytes:
    for name, value in headers:
        if name.lower() == b"content-encoding":
            return value.strip().lower()
    return b""


async def decoded(encoding: bytes, body: bytes, *, max_bytes: int) -> bytes:
    """`body` decoded per its `Content-Encoding` (gzip, every member of it, or deflate;
    any other label is left to the JSON parser to judge); ProtocolError when it is
    corrupt, is followed by anything but gzip members or padding, or would decode to more
    than `max_bytes`."""
    if not body:
        return body  # nothing was encoded, whatever the label says (a 204, an empty 200)
    if encoding in (b"gzip", b"x-gzip"):
        return await _gunzip(body, max_bytes)
    if encoding == b"deflate":
        try:
            return await _inflate(body, _ZLIB, max_bytes)
        except _Corrupt:
            return await _inflate(body, _RAW_DEFLATE, max_bytes)  # raw deflate, as some send
    return body  # identity, or a label some servers send for no encoding at all


class _Corrupt(ProtocolError):
    pass


class _Output:
    """Decoded pieces, refused past `max_bytes` in all, with a turn of the event loop
    after each step's worth of work."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self._work = 0

    async def add(self, part: bytes) -> None:
        self.size += len(part)
        if self.size > self.max_bytes:
            raise ProtocolError(f"an answer that decodes to over {self.max_bytes} bytes")
        if part:
            self.parts.append(part)
        self._work += len(part)
        if self._work >= STEP_BYTES:
            await self._turn()

    async def worked(self, amount: int) -> None:
        """`amount` more work done that produced nothing (in decoded bytes' worth)."""
        self._work += amount
        if self._work >= STEP_BYTES:
            await self._turn()

    async def _turn(self) -> None:
        """A step's worth of work done: the event loop's turn."""
        self._work = 0
        await asyncio.sleep(0)

    def joined(self) -> bytes:
        return b"".join(self.parts)


async def _gunzip(body: bytes, max_bytes: int) -> bytes:
    output = _Output(max_bytes)
    data = memoryview(body)
    start = 0
    slice_bytes = len(body)
    while True:
        start += await _inflate_stream(data[start:], _GZIP, output, slice_bytes)
        slice_bytes = MEMBER_SLICE_BYTES
        following = _NOT_PADDING.search(body, start)  # NULs may pad a member out
        if following is None:
            return output.joined()
        start = following.start()  # another member, or bytes that are corrupt as one
        await output.worked(MEMBER_WORK)


async def _inflate(body: bytes, wbits: int, max_bytes: int) -> bytes:
    output = _Output(max_bytes)
    await _inflate_stream(memoryview(body), wbits, output, len(body))
    return output.joined()


async def _inflate_stream(data: memoryview, wbits: int, output: _Output, slice_bytes: int) -> int:
    """Decode the one compressed stream `data` starts with into `output`, feeding zlib
    `slice_bytes` of it first, then twice as many each time; the number of bytes of
    `data` the stream took. Whatever follows it is left alone."""
    decoder = zlib.decompressobj(wbits)
    fed = 0
    try:
        while not decoder.eof:
            if fed == len(data):
                raise _Corrupt("a compressed body cut short")
            pending: bytes | memoryview = data[fed : fed + slice_bytes]
            fed += len(pending)
            slice_bytes *= 2
            while True:
                part = decoder.decompress(pending, STEP_BYTES)
                await output.add(part)
                pending = decoder.unconsumed_tail
                # Output held back for want of room is asked for even with no input left.
                if decoder.eof or (not pending and len(part) < STEP_BYTES):
                    break
    except zlib.error as exc:
        raise _Corrupt(f"a corrupt compressed body: {exc}") from exc
    return fed - len(decoder.unused_data)
