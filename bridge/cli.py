"""`erc-bridge` command line."""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import FrameType

import uvicorn
from dotenv.parser import parse_stream

from adapters.registry import adapter_sources, describe, shadowed_plugins
from bridge.app import create_app
from bridge.commands import route_lines, run_check, run_get
from bridge.config import StartupError, load_configuration
from bridge.heap import settle_heap
from bridge.logs import configure_logging, emit_startup_failure, emit_warning, log_format
from bridge.scaffold import ScaffoldError, next_steps, scaffold
from bridge.server import OneWriteHttpProtocol, fit_descriptor_limit
from bridge.settings import BridgeSettings
from bridge.writes import AFTER_WRITE_READ_S

ACCESS_LOG_FLUSH_S = 0.2
"""How long a served request's access line may wait to be written with others."""
FORGETTING_REDIS_CALLS = 2
"""What an applied write waits on in Redis past its deadline (bridge/forgetting.py): the
entries forgotten, then the word to the other replicas."""
SHUTDOWN_MARGIN_S = 1.0
"""Past the longest request, for its answer and its audit line to be written."""


DESCRIPTION = """\
erc-bridge connects a shop's commerce platform (Elastic Path, Adobe Commerce Partner API,
BigCommerce, or an adapter of your own) to the Talkdesk Retail Experience Cloud: it serves
the ERC e-commerce connection routes and answers them from the platform."""

CONFIGURATION = """\
configuration:
  ERC_BRIDGE_* variables (ERC_BRIDGE_ADAPTER, ERC_BRIDGE_API_KEYS, ERC_BRIDGE_PORT, ...)
  and the adapter's own (ELASTICPATH_*, ADOBE_*, BIGCOMMERCE_*), from the environment
  or a .env file in the working directory; the environment wins. `erc-bridge adapters`
  lists each adapter's variables; the README's Configuration section lists them all."""


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and room for the longest command's name."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _version() -> str:
    try:
        return metadata.version("erc-bridge")
    except metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erc-bridge",
        description=DESCRIPTION,
        epilog=f"{CONFIGURATION}\n\n`erc-bridge COMMAND --help` says more about each command.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the ERC routes (from the demo store unless configured otherwise)",
        description="Serve the ERC routes, /healthz, /readyz, /metrics, /openapi.json and a "
        "landing page at /, on ERC_BRIDGE_HOST:ERC_BRIDGE_PORT (127.0.0.1:8080).",
        epilog=CONFIGURATION,
        formatter_class=_Help,
    )
    serve.add_argument("--host", help="listen address (default ERC_BRIDGE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default ERC_BRIDGE_PORT or 8080)")
    commands.add_parser(
        "adapters", help="list the available adapters, their routes and their variables"
    )
    new = commands.add_parser("new-adapter", help="scaffold a new platform adapter")
    new.add_argument("name", help="the adapter's name, e.g. acme (a Python module name)")
    new.add_argument("--dir", default=".", type=Path, help="the project root (default .)")
    commands.add_parser(
        "check",
        help="check the configuration, the platform credentials, one platform call and the "
        "shared Redis",
    )
    get = commands.add_parser("get", help="print the ERC body the bridge serves for a path")
    get.add_argument("path", help="an ERC path with its query, e.g. /erc/ecommerce/customers/c1")
    return parser


def serve(host: str | None, port: int | None) -> int:
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        configuration = load_configuration(**overrides)
    except StartupError as exc:
        emit_startup_failure(str(exc))
        return 2
    settings = configuration.settings
    problem = _cannot_listen(settings.host, settings.port)
    if problem is not None:
        emit_startup_failure(problem)
        return 2
    configure_logging(
        settings.log_level,
        fmt=log_format(settings.log_format, sys.stdout),
        access_flush_s=ACCESS_LOG_FLUSH_S,
        final=True,
    )
    app = create_app(settings, configuration.adapter)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    settle_heap()
    fit_descriptor_limit(settings.max_connections)
    protocol = OneWriteHttpProtocol.limited(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=settings.max_connections,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        http=protocol,
        ws="none",
        timeout_graceful_shutdown=graceful_shutdown_s(settings),
    )
    return 0


def graceful_shutdown_s(settings: BridgeSettings) -> int:
    """How long the requests in flight get to finish after SIGTERM, in whole seconds
    (rounded up, never down): the longest a request may take is a write's: claiming its
    Idempotency-Key in Redis, its whole deadline, then giving its order's turn up in Redis,
    forgetting the customer's cached answers in Redis and W3's items page, and keeping the
    answer under the key."""
    redis_calls = FORGETTING_REDIS_CALLS + 3  # the key's claim and answer, the turn given up
    longest_s = settings.deadline_s + redis_calls * settings.redis_timeout_s + AFTER_WRITE_READ_S
    return math.ceil(longest_s + SHUTDOWN_MARGIN_S)


def _cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen there, found before it starts (and would fail
    after announcing that it did), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "is already in use"
        else:
            reason = f"cannot be listened on ({exc.strerror or exc})"
        return (
            f"{host}:{port} {reason}: choose another port with ERC_BRIDGE_PORT or --port "
            "(or another address with ERC_BRIDGE_HOST or --host)"
        )


def _stopped(signum: int, frame: FrameType | None) -> None:
    """uvicorn finishes the requests in flight and shuts the app down, then raises the
    signal it handled once more: the stop is complete, and a clean one exits 0."""
    raise SystemExit(0)


def list_adapters() -> int:
    """Every available adapter: where it comes from, its routes and its settings."""
    for name, source in sorted(adapter_sources().items()):
        info = describe(source)
        print(f"{name}  ({source.origin}: {source.module})")
        if info.problem is not None:
            print(f"  cannot be loaded: {info.problem}")
            continue
        for line in route_lines(info.capabilities):
            print(line)
        print(f"  requires: {', '.join(info.required) or 'nothing'}")
        if info.optional:
            print(f"  optional: {', '.join(info.optional)}")
    for plugin in shadowed_plugins():
        print(f"ignored: {plugin.origin} also registers {plugin.name!r}; the other one is used")
    return 0


def new_adapter(name: str, root: Path) -> int:
    try:
        written = scaffold(name, root)
    except ScaffoldError as exc:
        print(f"erc-bridge new-adapter: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(next_steps(name))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _report_env_file(Path(".env"))
    try:
        status = _run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`erc-bridge adapters | head`): nothing more to say, and
        # nothing left to flush at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


def _report_env_file(path: Path) -> None:
    """A `.env` line that cannot be parsed is ignored: said once, with the file's name,
    rather than once by each settings class that reads the file."""
    logging.getLogger("dotenv.main").disabled = True
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as stream:
        broken = [binding.original.line for binding in parse_stream(stream) if binding.error]
    if broken:
        which = ", ".join(str(n) for n in broken)
        said = f"line {which} is" if len(broken) == 1 else f"lines {which} are"
        emit_warning("env_file_unparsed", f"{path.resolve()}: {said} not valid and ignored")


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "adapters":
        return list_adapters()
    if args.command == "new-adapter":
        return new_adapter(args.name, args.dir)
    if args.command == "check":
        return run_check()
    if args.command == "get":
        return run_get(args.path)
    return 2


if __name__ == "__main__":
    sys.exit(main())
