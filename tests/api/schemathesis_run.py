"""`make api-check`: schemathesis with every check (`--checks all`) against the demo store
with writes on, served over loopback, with the expectations of `schemathesis.toml`.

    python -m tests.api.schemathesis_run [-n MAX_EXAMPLES] [extra schemathesis options]

Exits with schemathesis's status: 0 when no check failed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapters.demo import DemoAdapter
from bridge.app import create_app
from bridge.logs import configure_logging
from tests.conftest import API_KEY, settings
from tests.servers import serve

CONFIG = Path(__file__).with_name("schemathesis.toml")
DEFAULT_EXAMPLES = "50"


def main(arguments: list[str]) -> int:
    if "-n" not in arguments and "--max-examples" not in arguments:
        arguments = ["-n", DEFAULT_EXAMPLES, *arguments]
    configure_logging("warning")  # schemathesis's report only
    # Generated token requests fail often; the lockout has its own tests.
    app = create_app(settings(writes=True, auth_failure_limit=1_000_000), adapter=DemoAdapter())
    st = Path(sys.executable).with_name("st")
    with serve(app) as url:
        command = [
            str(st),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--workers",
            "1",
            *arguments,
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
