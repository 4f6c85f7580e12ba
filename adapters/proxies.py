"""Which egress proxy, if any, carries calls to a platform.

Read from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (lowercase forms win, as in urllib,
httpx and aiohttp), once per connection pool. An `http` platform is called through the
proxy with absolute-form requests; an `https` one through a `CONNECT` tunnel, with TLS
to the platform itself inside it. Only `http://` proxies are supported; another, or a
proxy URL that cannot be read, stops startup when a platform call would go through it
(`check_proxies_for`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies_environment

DEFAULT_PORTS = {"http": 80, "https": 443}


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


def check_proxies_for(urls: Iterable[str]) -> None:
    """Read the proxy each of `urls` would be called through, as its connection pool will
    (by its scheme, unless `NO_PROXY` exempts its host), so that one that cannot be used is
    found at startup rather than at the first call: ValueError names the variable. A
    proxy no platform call would go through is not read."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in DEFAULT_PORTS and parts.hostname:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
            proxy_from_environment(parts.scheme, parts.hostname, port)


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
