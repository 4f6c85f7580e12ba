"""Which egress proxy, if any, carries calls to a platform.

Read from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (lowercase forms win, as in urllib,
httpx and aiohttp), once per connection pool. An `http` platform is called through the
proxy with absolute-form requests; an `https` one through a `CONNECT` tunnel, with TLS
to the platform itself inside it. Only `http://` proxies are supported; another, or a
proxy URL that cannot be read, stops startup (`check_proxy_environment`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies_environment


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)
    """The `Proxy-Authorization` value, from the credentials in the proxy URL: a secret."""


def proxy_from_environment(scheme: str, host: str, port: int) -> Proxy | None:
    """The proxy the environment names for `scheme://host:port`, or None when there is
    none or `NO_PROXY` exempts the host (an exact name, a domain suffix, `host:port` or
    `*`, as urllib's `proxy_bypass_environment`)."""
    proxies = getproxies_environment()
    url = proxies.get(scheme)
    if not url or bypassed(host, port, proxies.get("no", "")):
        return None
    return parse_proxy_url(url, variable=_variable(scheme))


def check_proxy_environment() -> None:
    """Read every proxy the environment names for platform calls as a connection pool
    will, so that one that cannot be used is found at startup rather than at the first
    call: ValueError names the variable."""
    proxies = getproxies_environment()
    for scheme in ("http", "https"):
        url = proxies.get(scheme)
        if url:
            parse_proxy_url(url, variable=_variable(scheme))


def _variable(scheme: str) -> str:
    return f"{scheme.upper()}_PROXY"


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether `NO_PROXY` exempts `host:port`, by the rules of urllib's
    `proxy_bypass_environment` (which is not part of urllib's typed interface)."""
    if no_proxy.strip() == "*":
        return True
    host = host.lower()
    with_port = f"{host}:{port}"
    for name in no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (host, with_port) or with_port.endswith(f".{name}") or host.endswith(f".{name}"):
            return True
    return False


def parse_proxy_url(url: str, *, variable: str) -> Proxy:
    """A proxy from its URL; ValueError names `variable`, never the URL (it may hold a
    password)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise ValueError(f"{variable}: only http:// proxies are supported, not {parts.scheme}://")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"{variable}: the proxy port is not a number") from None
    if not parts.hostname:
        raise ValueError(f"{variable}: the proxy URL names no host")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization)
