"""Requests whose head announces a body that never comes, for the tests that show what
a route decides from the headers alone."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import suppress

WAIT_S = 10.0
"""How long the answer is waited for: a route that reads the body first never gives one."""


def answer_before_the_body(url: str, path: str, headers: Mapping[str, str]) -> bytes:
    """The head of the answer to `POST path` with `headers` and a `Content-Length` of
    1000, of which nothing is sent; empty when none came within `WAIT_S`."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", "Host: bridge", "Content-Length: 1000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    answer = b""
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        with suppress(TimeoutError):
            while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
    return answer
