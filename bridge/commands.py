"""`erc-bridge check` and `erc-bridge get`: the configuration, the platform and the mappings
tried from a shell, without serving; and the routes `erc-bridge adapters` lists.

Both print their answer on stdout and keep the bridge's log lines off it, so that the
output can be read, or piped, as it is. Neither prints a credential.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import socket
import ssl
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TextIO
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette

from adapters.base import Adapter, Capability
from adapters.deadline import within
from adapters.errors import AdapterError, UpstreamError, UpstreamTimeout
from adapters.shared_state import redacted_url
from bridge.app import create_app, secrets_to_redact
from bridge.config import StartupError, load_configuration
from bridge.logs import configure_logging, emit_startup_failure, log_format
from bridge.oauth import TOKEN_PATH
from bridge.redaction import redact, register_secrets
from bridge.settings import BridgeSettings

ROUTE_IDS: dict[Capability, str] = {
    Capability.CUSTOMER: "R1",
    Capability.ORDERS: "R2",
    Capability.ORDER: "R3",
    Capability.ITEMS: "R4",
    Capability.MOST_RECENT_ORDER: "R5",
    Capability.SHIPMENTS: "R6",
    Capability.PRODUCTS: "R7",
    Capability.CART: "R8",
    Capability.CANCEL_ORDER: "W1",
    Capability.CHANGE_SHIPPING_ADDRESS: "W2",
    Capability.CANCEL_ITEMS: "W3",
}
"""Each route's id as SPEC §1, §7 and §8 number them."""


def route_lines(capabilities: Iterable[Capability]) -> list[str]:
    """What `erc-bridge adapters` says an adapter with `capabilities` serves: its read
    routes (R1-R8) and its write routes (W1-W3, served when ERC_BRIDGE_WRITES=true)."""
    declared = set(capabilities)
    served = [f"{ROUTE_IDS[c]} {c}" for c in Capability if c in declared]
    served_reads = [line for line in served if line.startswith("R")]
    served_writes = [line for line in served if line.startswith("W")]
    return [
        f"  routes:   {', '.join(served_reads) or 'none'}",
        f"  writes:   {', '.join(served_writes) or 'none'}",
    ]


STEPS = ("configuration", "inbound credentials", "platform token", "platform call")
REDIS_STEP = "shared state (Redis)"
"""The step after them when `ERC_BRIDGE_REDIS_URL` is set."""
REDIS_VARIABLE = "ERC_BRIDGE_REDIS_URL"
REDIS_TIMEOUT_VARIABLE = "ERC_BRIDGE_REDIS_TIMEOUT_S"

WHERE = {
    "elasticpath": {"authenticate": "ELASTICPATH_BASE_URL", "probe": "ELASTICPATH_BASE_URL"},
    "adobe_cpapi": {"authenticate": "ADOBE_IMS_URL", "probe": "ADOBE_CPAPI_BASE_URL"},
    "bigcommerce": {"probe": "BIGCOMMERCE_BASE_URL and BIGCOMMERCE_STORE_HASH"},
}
"""The variables that say where each platform step's calls go, by adapter."""


@dataclass(frozen=True)
class Outcome:
    step: str
    status: Literal["PASS", "FAIL", "SKIP"]
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.step:<20} {redact.text(self.detail)}"


@contextlib.contextmanager
def _logs_to(stream: TextIO) -> Iterator[None]:
    """The log writes to whatever `sys.stdout` is: stdout stays for the answer."""
    with contextlib.redirect_stdout(stream):
        yield


# check


def run_check() -> int:
    """One line per step, PASS, FAIL or SKIP (did not run); 1 when any step failed."""
    outcomes = asyncio.run(_check())
    for outcome in outcomes:
        print(outcome.line())
    failed = [o.step for o in outcomes if o.status == "FAIL"]
    skipped = [o.step for o in outcomes if o.status == "SKIP"]
    if failed:
        print(f"check failed: {', '.join(failed)}")
    elif skipped:
        print(f"check passed; skipped: {', '.join(skipped)}")
    else:
        print("check passed")
    return 1 if failed else 0


async def _check() -> list[Outcome]:
    try:
        configuration = load_configuration()
    except StartupError as exc:
        skipped = [Outcome(step, "SKIP", "needs a valid configuration") for step in STEPS[1:]]
        return [Outcome(STEPS[0], "FAIL", str(exc)), *skipped]
    settings, adapter = configuration.settings, configuration.adapter
    register_secrets(secrets_to_redact(settings, adapter))
    configure_logging(
        settings.log_level, fmt=log_format(settings.log_format, sys.stderr), stream=sys.stderr
    )
    outcomes = [
        Outcome(STEPS[0], "PASS", f"{adapter.name} adapter; every setting is valid"),
        Outcome(STEPS[1], "PASS", _inbound(settings)),
    ]
    with _logs_to(sys.stderr):
        await adapter.open()
        try:
            token = await _platform_step(STEPS[2], adapter, "authenticate", settings)
            outcomes.append(token)
            if token.status == "FAIL":
                outcomes.append(Outcome(STEPS[3], "SKIP", "needs a platform token"))
            else:
                outcomes.append(await _platform_step(STEPS[3], adapter, "probe", settings))
        finally:
            await adapter.close()
        if settings.redis_url is not None:
            outcomes.append(await _redis_step(settings.redis_url, settings.redis_timeout_s))
    return outcomes


async def _redis_step(url: SecretStr, seconds: float) -> Outcome:
    """One PING to the Redis the replicas share, given the time each Redis call gets when
    serving (`seconds`). Serving goes on without a Redis that fails, so only here is a
    wrong URL or password said plainly."""
    where = redacted_url(url.get_secret_value())
    client = Redis.from_url(
        url.get_secret_value(), socket_timeout=seconds, socket_connect_timeout=seconds
    )
    try:
        async with asyncio.timeout(seconds):
            await client.ping()
    except AuthenticationError:
        detail = f"{where}: authentication refused (check the password in {REDIS_VARIABLE})"
        return Outcome(REDIS_STEP, "FAIL", detail)
    except (TimeoutError, RedisTimeoutError):
        detail = (
            f"{where}: timeout: no answer within {seconds:g} s "
            f"(check {REDIS_VARIABLE} and {REDIS_TIMEOUT_VARIABLE})"
        )
        return Outcome(REDIS_STEP, "FAIL", detail)
    except (RedisConnectionError, OSError) as exc:
        cause = network_cause(exc) or type(exc).__name__
        return Outcome(REDIS_STEP, "FAIL", f"{where} unreachable: {cause} (check {REDIS_VARIABLE})")
    except RedisError as exc:
        detail = f"{where} refused PING: {type(exc).__name__} (check {REDIS_VARIABLE})"
        return Outcome(REDIS_STEP, "FAIL", detail)
    finally:
        await client.aclose()
    return Outcome(REDIS_STEP, "PASS", f"{where} answered")


def _inbound(settings: BridgeSettings) -> str:
    if not settings.has_inbound_credentials:
        return "none configured: the demo store answers anyone"
    counts = (
        (len(settings.api_keys), "API key"),
        (len(settings.basic_users), "Basic user"),
        (len(settings.oauth_clients), "OAuth client"),
    )
    return ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in counts if n)


def _has_step(adapter: Adapter, method: Literal["authenticate", "probe"]) -> bool:
    """Whether the adapter does anything for the step: its own method, or a token to take."""
    own = getattr(type(adapter), method) is not getattr(Adapter, method)
    return own or (method == "authenticate" and adapter.token is not None)


async def _platform_step(
    step: str, adapter: Adapter, method: Literal["authenticate", "probe"], settings: BridgeSettings
) -> Outcome:
    if not _has_step(adapter, method):
        return Outcome(step, "SKIP", _not_run(adapter))
    seconds = settings.deadline_s
    variable = _variable(adapter, method)
    try:
        async with within(seconds):
            await getattr(adapter, method)()
    except (TimeoutError, UpstreamTimeout):
        return Outcome(step, "FAIL", f"timeout: no answer within {seconds:g} s (check {variable})")
    except AdapterError as exc:
        return Outcome(step, "FAIL", _failure(exc, method, variable))
    return Outcome(step, "PASS", "token obtained" if method == "authenticate" else "answered")


def _not_run(adapter: Adapter) -> str:
    if type(adapter).probe is Adapter.probe:
        return f"the {adapter.name} adapter has no platform to call"
    return f"{adapter.name} takes no token; its credentials go with every call"


def _variable(adapter: Adapter, method: str) -> str:
    """Where the step's calls go: from the table, else the adapter's URL settings."""
    known = WHERE.get(adapter.name, {}).get(method)
    if known is not None:
        return known
    settings = adapter.settings
    if settings is None:
        return "the adapter's settings"
    prefix = str(settings.model_config.get("env_prefix", ""))
    urls = [f"{prefix}{name}".upper() for name in type(settings).model_fields if "url" in name]
    return " or ".join(urls) or "the adapter's settings"


def _failure(exc: AdapterError, method: str, variable: str) -> str:
    """The adapter's message, with the cause of a network fault and the variable to check."""
    if method == "authenticate" and isinstance(exc, UpstreamError) and "(404)" in exc.message:
        return (
            f"{exc.message}: the token path is not found there, so the base URL is likely "
            f"wrong (check {variable}: the API host, without a path)"
        )
    cause = network_cause(exc)
    if cause is None:
        return exc.message
    return f"{exc.message}: {cause} (check {variable})"


def network_cause(exc: BaseException) -> str | None:
    """The class of network fault at the root of `exc`'s chain, or None when there is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last_words = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "DNS: the host name does not resolve"
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS: the certificate is not trusted ({current.verify_message})"
        if isinstance(current, ssl.SSLError):
            reason = current.reason or type(current).__name__
            return f"TLS: the handshake failed ({reason}; a plain-HTTP port at an https URL?)"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused: nothing listens at that host and port"
        if isinstance(current, ConnectionResetError):
            return "the connection was reset (a TLS port at an http URL, or a firewall?)"
        if isinstance(current, TimeoutError):
            return "timeout: the platform did not answer in time"
        if isinstance(current, OSError) and str(current):
            last_words = str(current)
        current = current.__cause__ or current.__context__
    return last_words


# get


def run_get(target: str) -> int:
    """Print the body the bridge serves for an ERC path (and query), and a newline; 1 unless
    it is a 2xx. The log lines go to stderr only when the answer is not a 2xx, or always
    when `ERC_BRIDGE_LOG_LEVEL` is set: a fetch that worked says nothing more."""
    try:
        configuration = load_configuration()
    except StartupError as exc:
        emit_startup_failure(str(exc))
        return 2
    settings = configuration.settings
    configure_logging(
        settings.log_level, fmt=log_format(settings.log_format, sys.stderr), stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the access line says it all
    held = io.StringIO()
    with _logs_to(held):
        app = create_app(settings, configuration.adapter)
        response = asyncio.run(_served(app, settings, _path_and_query(target)))
    if not response.is_success or "log_level" in settings.model_fields_set:
        sys.stderr.write(held.getvalue())
        sys.stderr.flush()
    sys.stdout.buffer.write(response.content + b"\n")
    sys.stdout.flush()
    return 0 if response.is_success else 1


def _path_and_query(target: str) -> str:
    """`/erc/...?limit=2` as given, or the path and query of a full URL."""
    parts = urlsplit(target)
    path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
    return f"{path}?{parts.query}" if parts.query else path


async def _served(app: Starlette, settings: BridgeSettings, path: str) -> httpx.Response:
    """One request through the whole app, its startup and shutdown included, in process."""
    base_url = f"http://{settings.host}:{settings.port}"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client,
    ):
        headers = await _credentials(client, settings)
        return await client.get(path, headers=headers)


async def _credentials(client: httpx.AsyncClient, settings: BridgeSettings) -> dict[str, str]:
    """Headers proving one of the configured inbound credentials, as Talkdesk would send."""
    if settings.api_keys:
        return {"X-API-Key": settings.api_keys[0].get_secret_value()}
    if settings.basic_users:
        pair = settings.basic_users[0].get_secret_value().encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if settings.oauth_clients:
        client_id, secret, _scopes = settings.oauth_clients[0].get_secret_value().split(":", 2)
        grant = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        if grant.is_success:
            return {"Authorization": f"Bearer {grant.json()['access_token']}"}
    return {}
