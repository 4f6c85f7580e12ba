"""The three platform emulators over loopback, each behind a `Hostile` stand-in, and
bridges (response cache on) in front of any one of them: fixtures the suite's conftest
takes in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.base import Adapter
from adapters.bigcommerce import BigCommerceAdapter
from adapters.elasticpath import ElasticPathAdapter
from bridge.app import create_app
from tests.conftest import FAST, settings
from tests.emulators import bigcommerce_fixtures as bc
from tests.emulators import elasticpath_fixtures as ep
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.bigcommerce import BigCommerceEmulator
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.emulators.hostile import Hostile
from tests.platform_settings import adobe_settings, bigcommerce_settings, elasticpath_settings
from tests.servers import serve

API_KEY = "hostile-platform-test-key-2f8c4a6e0b1d3957"


@dataclass
class Platform:
    hostile: Hostile
    adapter: Callable[[], Adapter]
    reset: Callable[[], None]


@pytest.fixture(scope="module")
def platforms() -> Iterator[dict[str, Platform]]:
    """The three platforms, served for the whole module."""
    ep_emulator = ElasticPathEmulator(ep.default_store())
    bc_emulator = BigCommerceEmulator(bc.default_store())
    adobe_emulator = CPAPIEmulator()
    ep_hostile, bc_hostile = Hostile(ep_emulator.app), Hostile(bc_emulator.app)
    adobe_hostile = Hostile(adobe_emulator.app)
    with (
        serve(ep_hostile) as ep_url,
        serve(bc_hostile) as bc_url,
        serve(adobe_hostile) as adobe_url,
    ):
        yield {
            "elasticpath": Platform(
                ep_hostile,
                lambda: ElasticPathAdapter(
                    elasticpath_settings(ep_url),
                    http=FAST,
                ),
                ep_emulator.reset,
            ),
            "bigcommerce": Platform(
                bc_hostile,
                lambda: BigCommerceAdapter(
                    bigcommerce_settings(bc_url),
                    http=FAST,
                ),
                bc_emulator.reset,
            ),
            "adobe": Platform(
                adobe_hostile,
                lambda: AdobeCPAPIAdapter(
                    adobe_settings(adobe_emulator, adobe_url),
                    http=FAST,
                ),
                adobe_emulator.reset,
            ),
        }


@pytest.fixture
def bridge_on(platforms: dict[str, Platform]) -> Iterator[Callable[[str], TestClient]]:
    """Starts a bridge, its response cache on, in front of the platform named; each one
    is closed when the test ends."""
    with contextlib.ExitStack() as opened:

        def start(name: str) -> TestClient:
            platform = platforms[name]
            platform.reset()
            platform.hostile.reset()
            app = create_app(settings(api_keys=API_KEY), adapter=platform.adapter())
            return opened.enter_context(TestClient(app, headers={"X-API-Key": API_KEY}))

        yield start
