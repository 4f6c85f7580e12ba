"""`erc-bridge check` and `erc-bridge get`: the configuration, the platform and the mappings
tried from a shell, without serving.

Both print their answer on stdout and send the bridge's log lines to stderr, so that the
output can be read, or piped, as it is. Neither prints a credential.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette

from adapters.base import Adapter
from adapters.deadline import within
from adapters.errors import AdapterError
from bridge.app import create_app, secrets_to_redact
from bridge.config import StartupError, load_configuration
from bridge.logs import configure_logging, emit_startup_failure
from bridge.oauth import TOKEN_PATH
from bridge.redaction import redact, register_secrets
from bridge.settings import BridgeSettings

STEPS = ("configuration", "inbound credentials", "platform token", "platform call")


@dataclass(frozen=True)
class Outcome:
    step: str
    status: Literal["PASS", "FAIL", "SKIP"]
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.step:<20} {redact.text(self.detail)}"


@contextlib.contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """The log writes to whatever `sys.stdout` is: stdout stays for the answer."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


# check


def run_check() -> int:
    """One line per step, PASS or FAIL; 1 when any step failed."""
    outcomes = asyncio.run(_check())
    for outcome in outcomes:
        print(outcome.line())
    failed = [o.step for o in outcomes if o.status == "FAIL"]
    print(f"check failed: {', '.join(failed)}" if failed else "check passed")
    return 1 if failed else 0


async def _check() -> list[Outcome]:
    try:
        configuration = load_configuration()
    except StartupError as exc:
        skipped = [Outcome(step, "SKIP", "needs a valid configuration") for step in STEPS[1:]]
        return [Outcome(STEPS[0], "FAIL", str(exc)), *skipped]
    settings, adapter = configuration.settings, configuration.adapter
    register_secrets(secrets_to_redact(settings, adapter))
    configure_logging(settings.log_level)
    outcomes = [
        Outcome(STEPS[0], "PASS", f"{adapter.name} adapter; every setting is valid"),
        Outcome(STEPS[1], "PASS", _inbound(settings)),
    ]
    with _logs_to_stderr():
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
    return outcomes


def _inbound(settings: BridgeSettings) -> str:
    if not settings.has_inbound_credentials:
        return "none configured: the demo store answers anyone"
    counts = (
        (len(settings.api_keys), "API key"),
        (len(settings.basic_users), "Basic user"),
        (len(settings.oauth_clients), "OAuth client"),
    )
    return ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in counts if n)


async def _platform_step(
    step: str, adapter: Adapter, method: Literal["authenticate", "probe"], settings: BridgeSettings
) -> Outcome:
    if getattr(type(adapter), method) is getattr(Adapter, method):
        return Outcome(step, "PASS", f"nothing to check: {adapter.name} has no platform")
    seconds = settings.deadline_s
    try:
        async with within(seconds):
            await getattr(adapter, method)()
    except AdapterError as exc:
        return Outcome(step, "FAIL", exc.message)
    except TimeoutError:
        return Outcome(step, "FAIL", f"the platform did not answer within {seconds:g} s")
    return Outcome(step, "PASS", "token obtained" if method == "authenticate" else "answered")


# get


def run_get(target: str) -> int:
    """Print the body the bridge serves for an ERC path (and query); 1 unless it is a 2xx."""
    try:
        configuration = load_configuration()
    except StartupError as exc:
        emit_startup_failure(str(exc))
        return 2
    settings = configuration.settings
    configure_logging(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the access line says it all
    with _logs_to_stderr():
        app = create_app(settings, configuration.adapter)
        response = asyncio.run(_served(app, settings, _path_and_query(target)))
    sys.stdout.buffer.write(response.content)
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
