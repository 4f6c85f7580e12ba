"""The adapter registry: built-in adapters, plugins from installed packages, and
`erc-bridge adapters`. Plugins come from a fake installed distribution on `sys.path`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import registry
from adapters.base import HTTPAdapter
from adapters.bigcommerce import BigCommerceAdapter
from adapters.demo import DemoAdapter
from adapters.http import UpstreamClient
from adapters.registry import AdapterLoadError, UnknownAdapter, adapter_class, adapter_sources
from bridge.cli import main
from bridge.config import StartupError, build_adapter
from tests.conftest import settings

SHIPPED = ["adobe_cpapi", "bigcommerce", "demo", "elasticpath"]
# The shipped adapters and any one registered by following docs/adapters.md.
BUILT_IN = sorted(registry.BUILTIN_ADAPTERS)
# The test plugin's adapter: a name no guide uses, so that one registered while following
# docs/adapters.md (acme) never shadows it.
PLUGIN = "plugin_shop"

PLUGIN_MODULE = """
from adapters.base import Adapter, Capability


class AcmeAdapter(Adapter):
    name = "plugin_shop"
    capabilities = frozenset({Capability.CUSTOMER, Capability.ORDERS})


class NotAnAdapter:
    pass
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution `acme-erc 1.0` registering good and broken adapters."""
    dist = tmp_path / "acme_erc-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-erc\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[erc_bridge.adapters]\n"
        "plugin_shop = acme_erc:AcmeAdapter\n"
        "missing = acme_missing:MissingAdapter\n"
        "exploding = acme_exploding:Adapter\n"
        "odd = acme_erc:NotAnAdapter\n"
        "shapeless = acme_erc\n"
        "demo = acme_erc:AcmeAdapter\n"
    )
    (tmp_path / "acme_erc.py").write_text(PLUGIN_MODULE)
    (tmp_path / "acme_exploding.py").write_text("raise RuntimeError('boom while importing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in ("acme_erc", "acme_exploding", "acme_missing"):
        sys.modules.pop(module, None)


def test_built_in_adapters() -> None:
    assert set(SHIPPED) <= set(BUILT_IN)
    assert sorted(adapter_sources()) == BUILT_IN
    assert adapter_class("bigcommerce") is BigCommerceAdapter
    assert registry.available_adapters()["bigcommerce"] == "adapters.bigcommerce:BigCommerceAdapter"


def test_a_plugin_is_available_under_its_name(plugins: Path) -> None:
    source = adapter_sources()[PLUGIN]
    assert (source.module, source.package, source.origin) == (
        "acme_erc",
        "acme-erc 1.0",
        "plugin acme-erc 1.0",
    )
    cls = adapter_class(PLUGIN)
    assert cls.__module__ == "acme_erc" and cls.name == PLUGIN


def test_built_in_adapters_win_a_name_clash(plugins: Path) -> None:
    assert adapter_class("demo") is DemoAdapter
    assert [(p.name, p.package) for p in registry.shadowed_plugins()] == [("demo", "acme-erc 1.0")]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "ModuleNotFoundError: No module named 'acme_missing'"),
        ("exploding", "RuntimeError: boom while importing"),
        ("odd", "NotAnAdapter is not an Adapter subclass"),
        ("shapeless", "the entry point must be 'module:Class'"),
    ],
)
def test_a_broken_plugin_is_reported_when_selected(plugins: Path, name: str, reason: str) -> None:
    with pytest.raises(AdapterLoadError) as caught:
        adapter_class(name)
    assert "plugin acme-erc 1.0" in str(caught.value)
    assert reason in str(caught.value)
    assert adapter_class(PLUGIN).name == PLUGIN  # the other adapters still load
    assert adapter_class("elasticpath").name == "elasticpath"


def test_startup_with_a_broken_plugin_is_one_line_naming_the_package(plugins: Path) -> None:
    with pytest.raises(StartupError) as caught:
        build_adapter(settings(adapter="exploding"))
    message = str(caught.value)
    assert message.startswith("ERC_BRIDGE_ADAPTER: adapter 'exploding' failed to load: ")
    assert "acme-erc 1.0" in message and "boom while importing" in message
    assert "\n" not in message
    assert build_adapter(settings(adapter="demo")).name == "demo"


def test_unknown_adapter_lists_plugins_too(plugins: Path) -> None:
    with pytest.raises(UnknownAdapter) as caught:
        adapter_class("shopify")
    assert PLUGIN in caught.value.known and "bigcommerce" in caught.value.known


def test_unreadable_package_metadata_leaves_the_built_in_adapters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**_: object) -> object:
        raise ValueError("a distribution with unreadable metadata")

    monkeypatch.setattr(registry, "entry_points", broken)
    assert sorted(adapter_sources()) == BUILT_IN


# erc-bridge adapters


def test_adapters_command_lists_the_four_built_in_adapters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["adapters"]) == 0
    out = capsys.readouterr().out
    headers = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert headers == BUILT_IN
    assert "bigcommerce  (built-in: adapters.bigcommerce)" in out
    assert "  routes:   R1 customer, R2 orders, R3 order, R4 items, R5 most_recent_order" in out
    assert "  requires: BIGCOMMERCE_STORE_HASH, BIGCOMMERCE_ACCESS_TOKEN" in out
    assert "  optional: BIGCOMMERCE_BASE_URL, BIGCOMMERCE_WEBHOOK_SECRET" in out
    demo = out.split("demo  ")[1].split("elasticpath")[0]
    assert "requires: nothing" in demo


def test_adapters_command_shows_plugins_and_their_problems(
    plugins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adapters"]) == 0
    out = capsys.readouterr().out
    assert f"{PLUGIN}  (plugin acme-erc 1.0: acme_erc)" in out
    assert "  routes:   R1 customer, R2 orders\n  writes:   none\n  requires: nothing" in out
    assert "exploding  (plugin acme-erc 1.0: acme_exploding)\n  cannot be loaded:" in out
    assert "ignored: plugin acme-erc 1.0 also registers 'demo'; the other one is used" in out


def test_the_installed_command_lists_the_adapters(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "adapters"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines() if line[:1].isalpha()] == (
        BUILT_IN
    )


class _OneClient(HTTPAdapter):
    name = "one_client"

    async def open(self) -> None:
        self._upstream = UpstreamClient("http://127.0.0.1:9", platform="one_client")


@pytest.mark.anyio
async def test_an_http_adapter_offers_its_client_only_between_open_and_close() -> None:
    adapter = _OneClient()
    with pytest.raises(RuntimeError, match=r"^_OneClient.open\(\) was not awaited$"):
        _ = adapter._http
    await adapter.open()
    assert isinstance(adapter._http, UpstreamClient)
    await adapter.close()
    await adapter.close()  # a second close is harmless
    with pytest.raises(RuntimeError, match="was not awaited"):
        _ = adapter._http
