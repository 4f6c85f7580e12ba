"""A small forward proxy for tests, run as its own process on 127.0.0.1:

    python -m tests.proxy LOG_FILE [USER:PASSWORD]

It prints its port on the first line of stdout, then serves absolute-form requests
(forwarded with `Connection: close`) and `CONNECT` tunnels, and appends one JSON line per
request to LOG_FILE: method, target and whether the credentials were right. With
credentials given, a request without them is answered 407."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit


class Proxy:
    def __init__(self, log_file: str, credentials: str | None) -> None:
        self.log_file = log_file
        self.expected = (
            "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else None
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = [line for line in head.split("\r\n") if line]
                method, target, _ = request_line.split(" ", 2)
                headers = dict(line.split(":", 1) for line in lines)
                headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
                authorized = headers.get("proxy-authorization") == self.expected
                self.log(method=method, target=target, authorized=authorized)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if self.expected is not None and not authorized:
                    writer.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b"Proxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
                    )
                    await writer.drain()
                    continue
                if method == "CONNECT":
                    await self.tunnel(target, reader, writer)
                    return
                await self.forward(method, target, lines, body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            writer.close()

    async def tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def forward(
        self,
        method: str,
        target: str,
        lines: list[str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [
            line
            for line in lines
            if not line.lower().startswith(("proxy-authorization:", "connection:"))
        ]
        forwarded = [f"{method} {path} HTTP/1.1", *kept, "Connection: close"]
        up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
        up_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1") + body)
        writer.write(await up_reader.read())  # the whole answer, up to the close
        await writer.drain()
        up_writer.close()

    def log(self, **entry: object) -> None:
        with open(self.log_file, "a") as log:
            log.write(json.dumps(entry) + "\n")


async def pipe(
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
    *,
    passes: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Copies `source` to `sink` until either ends; `passes()`, when given, is awaited
    before each piece, and the copy stops where it says no."""
    try:
        while data := await source.read(65536):
            if passes is not None and not await passes():
                return
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()


async def main(log_file: str, credentials: str | None) -> None:
    proxy = Proxy(log_file, credentials)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
