"""The pages for a person with a browser: `/`, what this service is and where to look next,
and `/docs`, the API reference rendered from `/openapi.json` by a packaged page.

Both answer without credentials and say nothing of the configuration beyond the adapter's
name: no platform URL, no store id, no variable's value. They are left out of
`/openapi.json`, which documents the API rather than the pages about it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bridge.openapi import OPENAPI_PATH

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>erc-bridge</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
code {{ background: #f3f3f3; padding: 0 .25rem; border-radius: 3px; }}
li {{ margin: .25rem 0; }}
</style>
</head>
<body>
<h1>erc-bridge</h1>
<p>This service connects a shop's commerce platform to the Talkdesk Retail Experience
Cloud (ERC): Talkdesk calls its ERC e-commerce connection routes, and it answers them
from the platform through the <code>{adapter}</code> adapter.</p>
<ul>
<li><a href="docs">API reference</a>: every route, its parameters and its answers</li>
<li><a href="openapi.json">openapi.json</a>: the same as an OpenAPI 3.1 document</li>
<li><a href="readyz">readyz</a>: whether the platform accepts this bridge</li>
<li><a href="healthz">healthz</a>: whether the process answers</li>
<li><a href="metrics">metrics</a>: Prometheus metrics (a key may be needed)</li>
</ul>
<p>The ERC routes need credentials; these pages do not.</p>
</body>
</html>
"""

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _security_policy(page: str) -> str:
    """Only the page's own script and styles, and requests to this origin."""
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _SCRIPT.findall(page)
    ]
    scripts = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; "
        "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def landing_routes(adapter: str) -> list[Route]:
    front = _PAGE.format(adapter=html.escape(adapter))
    reference = resources.files("bridge").joinpath("static/docs.html").read_text("utf-8")
    reference = reference.replace("{{OPENAPI}}", OPENAPI_PATH.lstrip("/"))
    policies = {front: _security_policy(front), reference: _security_policy(reference)}

    def page(body: str) -> Callable[[Request], Awaitable[Response]]:
        headers = {
            "Content-Security-Policy": policies[body],
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }

        async def answer(request: Request) -> Response:
            return HTMLResponse(body, headers=headers)

        return answer

    return [
        Route("/", page(front), methods=["GET"], include_in_schema=False),
        Route("/docs", page(reference), methods=["GET"], include_in_schema=False),
    ]
