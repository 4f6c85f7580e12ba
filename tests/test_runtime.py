"""Process-wide settings `erc-bridge serve` makes, and the request deadline."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap

import pytest
import uvicorn

from adapters.deadline import remaining, within
from bridge import cli
from bridge.heap import THRESHOLDS


def run_python(code: str) -> str:
    """Run `code` in a fresh interpreter: what it changes stays out of the test process."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_settled_heap_is_frozen_with_spaced_collections() -> None:
    out = run_python(
        """
        import gc
        import bridge.app
        from bridge.heap import settle_heap
        before = gc.get_freeze_count()
        settle_heap()
        print(before, gc.get_freeze_count(), len(gc.get_objects()), *gc.get_threshold())
        """
    )
    before, frozen, still_tracked, *thresholds = map(int, out.split())
    assert frozen - before > 50 * still_tracked  # the collector no longer walks startup's
    assert tuple(thresholds) == THRESHOLDS


def test_a_bridge_without_oauth_clients_never_imports_pyjwt() -> None:
    """PyJWT loads cryptography when it is installed: about 13 MB a bridge that issues no
    token does not need."""
    out = run_python(
        """
        import sys
        from bridge.app import create_app
        from bridge.config import load_settings
        app = create_app(load_settings(_env_file=None, adapter="demo"))
        print("jwt" in sys.modules, "cryptography.hazmat" in sys.modules)
        """
    )
    assert out.splitlines()[-1].split() == ["False", "False"]  # after the startup log


def test_serve_settles_the_heap_once_the_app_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setenv("ERC_BRIDGE_ADAPTER", "demo")
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setattr(cli, "create_app", lambda *args: calls.append("create_app"))
    monkeypatch.setattr(cli, "settle_heap", lambda: calls.append("settle_heap"))
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append("run"))
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    assert cli.serve(host="127.0.0.1", port=8080) == 0
    assert calls == ["create_app", "settle_heap", "run"]


def test_final_logging_keeps_levels_request_ids_and_redaction() -> None:
    out = run_python(
        """
        import structlog
        from bridge.logs import REQUEST_ID, configure_logging
        from bridge.redaction import register_secrets
        configure_logging("info", final=True)
        register_secrets(["s3cr3t-value-123"])
        log = structlog.get_logger("erc_bridge.test")
        REQUEST_ID.set("req-1")
        for n in range(3):
            log.debug("hidden", n=n)
            log.info("shown", n=n, detail="key s3cr3t-value-123")
        """
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["event"], line["n"]) for line in lines] == [("shown", n) for n in range(3)]
    assert {line["request_id"] for line in lines} == {"req-1"}
    assert "s3cr3t-value-123" not in out


@pytest.mark.anyio
async def test_within_shares_its_deadline_and_forgets_it_after() -> None:
    assert remaining() is None
    async with within(5):
        left = remaining()
        assert left is not None and 4 < left <= 5
        async with within(1):
            inner = remaining()
            assert inner is not None and inner <= 1
        outer = remaining()
        assert outer is not None and outer > 4
    assert remaining() is None


@pytest.mark.anyio
async def test_within_cancels_a_block_that_outlives_it() -> None:
    with pytest.raises(TimeoutError):
        async with within(0.05):
            await asyncio.sleep(5)
    assert remaining() is None


@pytest.mark.anyio
async def test_within_lets_errors_of_the_block_through() -> None:
    with pytest.raises(KeyError):
        async with within(5):
            raise KeyError("x")
    assert remaining() is None
