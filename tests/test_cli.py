"""The command line as a user meets it: its version and help, a busy port, a reader that
goes away, a broken `.env` and readable log lines."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import structlog
import uvicorn

from bridge import cli
from bridge.logs import access_log, configure_logging, log_format
from bridge.redaction import register_secrets
from bridge.writes import AFTER_WRITE_READ_S
from tests.conftest import settings
from tests.processes import clean_environment, free_port

SECRET = "console-secret-8d1f3b5a7c9e0d2f4b6a8c0e"


def run_cli(
    cwd: Path, *args: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "bridge.cli", *args],
        cwd=cwd,
        env=clean_environment(**(env or {})),
        capture_output="stdout" not in kwargs,
        text=True,
        timeout=60,
        check=False,
        **kwargs,
    )


def test_version(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout == f"erc-bridge {metadata.version('erc-bridge')}\n"


def test_the_top_level_help_says_what_the_tool_is_and_lists_every_command(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    assert "Talkdesk Retail Experience Cloud" in result.stdout
    listed = re.findall(r"^    (\S+)", result.stdout, re.MULTILINE)
    assert listed == ["serve", "adapters", "new-adapter", "check", "get"]
    assert ".env" in result.stdout


def test_serve_help_names_the_variables_and_the_env_file(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--help")
    assert result.returncode == 0
    for said in ("ERC_BRIDGE_PORT", "ERC_BRIDGE_ADAPTER", ".env", "--port"):
        assert said in result.stdout, said


def test_a_port_in_use_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli(tmp_path, "serve", "--port", str(port))

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    failure = json.loads(line)
    assert failure["event"] == "startup_failed"
    assert f"127.0.0.1:{port} is already in use" in failure["error"]
    assert "ERC_BRIDGE_PORT or --port" in failure["error"]


REDIS_PASSWORD = "redis-pw-5c1e9a"
UNUSABLE_REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0?ssl_ca_certs=/etc/ssl/ca.pem"
"""A URL that reads as one and that redis-py still cannot use: TLS options on redis://."""


def startup_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The error of the one JSON line a refused `serve` writes, checked to be all it wrote."""
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    failure = json.loads(line)
    assert failure["event"] == "startup_failed"
    return str(failure["error"])


def test_serve_refuses_a_redis_url_redis_cannot_use_in_one_line(tmp_path: Path) -> None:
    env = {"ERC_BRIDGE_REDIS_URL": UNUSABLE_REDIS_URL, "ERC_BRIDGE_PORT": str(free_port())}
    result = run_cli(tmp_path, "serve", env=env)

    error = startup_failure(result)
    assert error.startswith("ERC_BRIDGE_REDIS_URL is invalid: query option 'ssl_ca_certs'")
    assert REDIS_PASSWORD not in result.stderr


def test_check_fails_its_configuration_step_on_a_redis_url_redis_cannot_use(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, "check", env={"ERC_BRIDGE_REDIS_URL": UNUSABLE_REDIS_URL})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    first, *_, last = result.stdout.splitlines()
    assert first.startswith("FAIL  configuration")
    assert "ERC_BRIDGE_REDIS_URL is invalid: query option 'ssl_ca_certs'" in first
    assert last == "check failed: configuration"
    assert REDIS_PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--host="], {}), ([], {"ERC_BRIDGE_HOST": ""}), ([], {"ERC_BRIDGE_HOST": " "})],
)
def test_serve_refuses_a_blank_listen_address_before_listening(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    """A blank address would listen on every interface (0.0.0.0 and ::)."""
    result = run_cli(tmp_path, "serve", *args, "--port", str(free_port()), env=env)

    error = startup_failure(result)
    assert error.startswith("ERC_BRIDGE_HOST is invalid: must not be empty, nor --host")


@pytest.mark.parametrize(
    "args", [["adapters"], ["--help"], ["get", "/erc/ecommerce/customers/cus_ana"]]
)
def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path, args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # as `| head` does once it has its lines
    try:
        result = run_cli(tmp_path, *args, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr


def test_an_env_file_that_cannot_be_parsed_is_said_once_with_its_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text('ERC_BRIDGE_BRAND=north\nthis is not a line\nX="open\n')
    result = run_cli(tmp_path, "get", "/erc/ecommerce/customers/cus_ana")

    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    warning = json.loads(line)
    assert warning["event"] == "env_file_unparsed"
    assert f"{tmp_path.resolve() / '.env'}: lines 2, 3 are not valid and ignored" in line
    assert json.loads(result.stdout)["brand"] == "north"  # the good lines still count


# Log formats


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    configure_logging("info")
    logging.getLogger().handlers[:] = []


class Terminal:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_auto_is_readable_on_a_terminal_and_json_elsewhere() -> None:
    assert log_format("auto", Terminal(True)) == "console"  # type: ignore[arg-type]
    assert log_format("auto", Terminal(False)) == "json"  # type: ignore[arg-type]
    assert log_format("json", Terminal(True)) == "json"  # type: ignore[arg-type]
    assert log_format("console", Terminal(False)) == "console"  # type: ignore[arg-type]


def test_console_lines_are_readable_and_still_redacted(
    capsys: pytest.CaptureFixture[str], restored: None
) -> None:
    register_secrets([SECRET])
    configure_logging("info", fmt="console")
    structlog.get_logger("erc_bridge").warning("platform_said", detail=f"key {SECRET} refused")
    logging.getLogger("uvicorn.error").info("Started server process")
    access_log.write(
        request_id="r1", offered=False, method="GET", route="/healthz", status=200, ms=1.5
    )
    out = capsys.readouterr().out

    assert SECRET not in out
    lines = out.splitlines()
    assert len(lines) == 3
    assert "[warning  ] platform_said" in lines[0]
    assert "Started server process" in lines[1]
    assert "request" in lines[2] and "route=/healthz" in lines[2] and "status=200" in lines[2]
    assert not any(line.startswith("{") for line in lines)
    assert "\x1b[" not in out  # no colours where the lines are not on a terminal


def test_the_server_writes_readable_lines_when_asked_to(tmp_path: Path) -> None:
    env = clean_environment(ERC_BRIDGE_LOG_FORMAT="console", ERC_BRIDGE_PORT=str(free_port()))
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "bridge_started" in line:
                break
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "bridge_started" in lines[-1] and "adapter=demo" in lines[-1], lines
    assert not any(line.startswith("{") for line in lines), lines


def test_an_unknown_log_format_is_refused(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", env={"ERC_BRIDGE_LOG_FORMAT": "yaml"})
    assert result.returncode == 2
    assert "ERC_BRIDGE_LOG_FORMAT is invalid" in result.stderr


def test_adapters_names_each_route_by_its_spec_id(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "adapters")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    demo = lines.index(next(line for line in lines if line.startswith("demo ")))
    assert lines[demo + 1] == (
        "  routes:   R1 customer, R2 orders, R3 order, R4 items, R5 most_recent_order, "
        "R6 shipments, R7 products, R8 cart"
    )
    assert (
        lines[demo + 2]
        == "  writes:   W1 cancel_order, W2 change_shipping_address, W3 cancel_items"
    )
    adobe = lines.index(next(line for line in lines if line.startswith("adobe_cpapi ")))
    assert lines[adobe + 2] == "  writes:   W1 cancel_order, W3 cancel_items"


# Shutdown


def test_serve_gives_a_write_in_flight_all_it_may_take_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write may claim its key in Redis, take the whole deadline, then give its order's
    # turn up, forget the customer (two calls) and keep its answer, five Redis calls each
    # bounded by the Redis timeout, and read W3's items page for at least
    # AFTER_WRITE_READ_S: 8.9 + 5 * 0.25 + 1 s, and a 1 s margin, rounded up.
    ran: dict[str, object] = {}
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ERC_BRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ERC_BRIDGE_DEADLINE_S", "8.9")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    monkeypatch.setattr(cli, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)

    assert cli.serve("127.0.0.1", free_port()) == 0
    assert ran["timeout_graceful_shutdown"] == 13
    assert ran["timeout_graceful_shutdown"] == cli.graceful_shutdown_s(settings(deadline_s=8.9))


@pytest.mark.parametrize("redis_timeout_s", [0.25, 2.0])
@pytest.mark.parametrize("deadline_s", [0.1, 1.0, 8.0, 8.9, 299.5])
def test_the_shutdown_grace_covers_the_longest_write(
    deadline_s: float, redis_timeout_s: float
) -> None:
    """A write claims its key in Redis, runs to its deadline, gives its order's turn up in
    Redis, forgets the customer's answers in Redis (two calls), reads W3's items page, and
    keeps its answer under the key."""
    configured = settings(deadline_s=deadline_s, redis_timeout_s=redis_timeout_s)
    longest_write = deadline_s + (1 + 1 + 2 + 1) * redis_timeout_s + AFTER_WRITE_READ_S
    grace = cli.graceful_shutdown_s(configured)
    assert isinstance(grace, int)
    assert longest_write < grace <= longest_write + 2
