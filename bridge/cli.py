"""`erc-bridge` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from adapters.base import Capability
from adapters.registry import adapter_sources, describe, shadowed_plugins
from bridge.app import create_app
from bridge.commands import run_check, run_get
from bridge.config import StartupError, load_configuration
from bridge.heap import settle_heap
from bridge.logs import configure_logging, emit_startup_failure
from bridge.scaffold import ScaffoldError, next_steps, scaffold
from bridge.server import OneWriteHttpProtocol, fit_descriptor_limit

ACCESS_LOG_FLUSH_S = 0.2
"""How long a served request's access line may wait to be written with others."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erc-bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="listen address (default ERC_BRIDGE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default ERC_BRIDGE_PORT or 8080)")
    commands.add_parser("adapters", help="list the available adapters and what they support")
    new = commands.add_parser("new-adapter", help="scaffold a new platform adapter")
    new.add_argument("name", help="the adapter's name, e.g. acme (a Python module name)")
    new.add_argument("--dir", default=".", type=Path, help="the project root (default .)")
    commands.add_parser(
        "check", help="check the configuration, the platform credentials and one platform call"
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
    configure_logging(settings.log_level, access_flush_s=ACCESS_LOG_FLUSH_S, final=True)
    app = create_app(settings, configuration.adapter)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    settle_heap()
    fit_descriptor_limit(settings.max_connections)
    protocol = OneWriteHttpProtocol.limited(
        header_timeout_s=settings.header_timeout_s, max_connections=settings.max_connections
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
        timeout_graceful_shutdown=max(1, int(settings.deadline_s) + 2),
    )
    return 0


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
        routes = [f"R{list(Capability).index(c) + 1} {c}" for c in info.capabilities]
        print(f"  routes:   {', '.join(routes) or 'none'}")
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
