"""`erc-bridge` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from bridge.app import create_app
from bridge.config import StartupError, load_configuration
from bridge.logs import configure_logging, emit_startup_failure


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erc-bridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="listen address (default ERC_BRIDGE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default ERC_BRIDGE_PORT or 8080)")
    return parser


def serve(host: str | None, port: int | None) -> int:
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        configuration = load_configuration(**overrides)
    except StartupError as exc:
        emit_startup_failure(str(exc))
        return 2
    settings = configuration.settings
    configure_logging(settings.log_level)
    app = create_app(settings, configuration.adapter)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=max(1, int(settings.deadline_s) + 2),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.host, args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
