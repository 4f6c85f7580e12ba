"""`/` and `/docs`: pages for a person, served without credentials, that reveal nothing of
the configuration and fetch nothing from elsewhere."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.elasticpath import ElasticPathAdapter
from bridge.app import create_app
from tests.conftest import settings
from tests.platform_settings import elasticpath_settings

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_URL = "https://store-7f3a.useast.api.elasticpath.com"
CLIENT_ID = "client-id-visible-nowhere-4c1e9a7b3d5f"
CLIENT_SECRET = "client-secret-visible-nowhere-8e2b6d0f4a"
API_KEY = "inbound-key-visible-nowhere-1a3c5e7f9b2d4f6a"
PUBLIC_URL = "https://erc-bridge.example.com/store-north"
BRAND = "north-brand-7d9f"
CONFIGURED = (PLATFORM_URL, "store-7f3a", CLIENT_ID, CLIENT_SECRET, API_KEY, PUBLIC_URL, BRAND)
SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    adapter = ElasticPathAdapter(elasticpath_settings(PLATFORM_URL))
    app = create_app(settings(api_keys=API_KEY, public_url=PUBLIC_URL, brand=BRAND), adapter)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_the_landing_page_says_what_this_is_without_credentials(client: TestClient) -> None:
    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    said = " ".join(page.text.split())
    assert "Talkdesk Retail Experience Cloud" in said
    assert "<code>elasticpath</code> adapter" in said
    links = set(re.findall(r'href="([^"]+)"', page.text))
    assert links == {"docs", "openapi.json", "readyz", "healthz", "metrics"}
    for link in links - {"metrics"}:  # relative, so that they work behind a path prefix too
        assert client.get(f"/{link}").status_code in (200, 503), link
    # With inbound credentials configured, metrics take them too.
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": API_KEY}).status_code == 200


def test_the_reference_is_the_packaged_page_and_fetches_only_the_document(
    client: TestClient,
) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'const documentUrl = "openapi.json";' in page.text
    assert "{{" not in page.text
    # No CDN, no font, no image: nothing but this origin.
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "@import" not in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    [script] = SCRIPT.findall(page.text)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy  # the page's own script, and only it, may run


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_the_pages_reveal_no_configuration(client: TestClient, path: str) -> None:
    page = client.get(path)
    for value in CONFIGURED:
        assert value not in page.text, value
    assert "ELASTICPATH_" not in page.text and "ERC_BRIDGE_" not in page.text


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    head = client.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == client.get(path).headers["content-length"]


def test_the_pages_are_not_part_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/docs" not in paths


def test_the_page_ships_in_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "static/*" in project["tool"]["setuptools"]["package-data"]["bridge"]
    assert (ROOT / "bridge" / "static" / "docs.html").is_file()


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs node to parse the script")
def test_the_reference_script_parses(tmp_path: Path) -> None:
    assert NODE is not None
    [script] = SCRIPT.findall((ROOT / "bridge" / "static" / "docs.html").read_text())
    source = tmp_path / "docs.js"
    source.write_text(script)
    parsed = subprocess.run(
        [NODE, "--check", str(source)], capture_output=True, text=True, timeout=60, check=False
    )
    assert parsed.returncode == 0, parsed.stderr
