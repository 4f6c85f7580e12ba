"""The agent session: platform calls per session against the distinct-resource floor.

An agent opening a caller asks R1, R5, R2 (5 orders), then R3 and R4 of the two newest
orders. Each session runs through the adapter, with a cold resource cache, against the
Elastic Path and Adobe CPAPI test emulators served on 127.0.0.1; the emulators' request
logs say how many platform calls it made and how many distinct resources (path and
query) those were. Without the resource cache the same sessions give the figure before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.base import HTTPAdapter, OrderListRequest
from adapters.elasticpath import ElasticPathAdapter
from adapters.resources import ResourceCache
from bridge.logs import configure_logging
from tests.emulators import adobe_fixtures as adobe_fx
from tests.emulators import elasticpath_fixtures as ep_fx
from tests.emulators.adobe_cpapi import CPAPIEmulator
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.platform_settings import adobe_settings, elasticpath_settings
from tests.servers import serve

Resource = tuple[str, str]

EP_CUSTOMERS = (ep_fx.MARIA, ep_fx.OLIVIA, ep_fx.HANS)
ADOBE_CUSTOMERS = (adobe_fx.LARKSPUR, adobe_fx.BUSY, adobe_fx.EURO)


async def agent_session(adapter: HTTPAdapter, customer_id: str) -> list[Any]:
    """R1, R5, R2 (5 orders), then R3 and R4 of the two newest orders; their answers."""
    answers: list[Any] = [
        await adapter.get_customer(customer_id),
        await adapter.most_recent_order(customer_id),
    ]
    page = await adapter.list_orders(OrderListRequest(customer_id=customer_id, limit=5))
    answers.append(page)
    for order in page.orders[:2]:
        answers.append(await adapter.get_order(customer_id, order.id))
        answers.append(await adapter.list_items(customer_id, order.id))
    return answers


def elasticpath_adapter(url: str) -> ElasticPathAdapter:
    """An adapter on the Elastic Path emulator at `url`."""
    return ElasticPathAdapter(elasticpath_settings(url))


def adobe_adapter(emulator: CPAPIEmulator, url: str) -> AdobeCPAPIAdapter:
    """An adapter on the Adobe emulator `emulator`, served at `url`."""
    return AdobeCPAPIAdapter(adobe_settings(emulator, url))


@dataclass(frozen=True)
class Sessions:
    sessions: int
    calls: int
    distinct: int
    """Distinct resources summed over the sessions: the floor of `calls`."""

    @property
    def ratio(self) -> float:
        return self.calls / max(self.distinct, 1)


@dataclass(frozen=True)
class Store:
    """A platform emulator served over loopback, an adapter on it and its customers."""

    name: str
    emulator: Any
    adapter: Callable[[], HTTPAdapter]
    calls: Callable[[], list[Resource]]
    customers: tuple[str, ...]


@contextmanager
def stores() -> Iterator[list[Store]]:
    ep = ElasticPathEmulator(ep_fx.default_store())
    adobe = CPAPIEmulator()
    with ExitStack() as stack:
        ep_url = stack.enter_context(serve(ep.app))
        adobe_url = stack.enter_context(serve(adobe.app))
        yield [
            Store(
                "Elastic Path",
                ep,
                lambda: elasticpath_adapter(ep_url),
                lambda: [(c.path, str(sorted(c.query.items()))) for c in ep.api_calls],
                EP_CUSTOMERS,
            ),
            Store(
                "Adobe CPAPI",
                adobe,
                lambda: adobe_adapter(adobe, adobe_url),
                lambda: [(e.path, str(sorted(e.params))) for e in adobe.cpapi_exchanges],
                ADOBE_CUSTOMERS,
            ),
        ]


async def run_sessions(store: Store, *, cached: bool) -> Sessions:
    sessions = calls = distinct = 0
    for customer_id in store.customers:
        store.emulator.reset()
        adapter = store.adapter()
        adapter.resources = ResourceCache(ttl_s=30) if cached else None
        await adapter.open()
        try:
            await agent_session(adapter, customer_id)
        finally:
            await adapter.close()
        made = store.calls()
        sessions += 1
        calls += len(made)
        distinct += len(set(made))
    return Sessions(sessions, calls, distinct)


def measure() -> dict[str, tuple[Sessions, Sessions]]:
    """Per store: the sessions without the resource cache, then with it (cold each time)."""
    with stores() as served:
        return {
            store.name: (
                asyncio.run(run_sessions(store, cached=False)),
                asyncio.run(run_sessions(store, cached=True)),
            )
            for store in served
        }


def report(figures: dict[str, tuple[Sessions, Sessions]]) -> list[str]:
    lines = [
        f"{'agent session (R1, R5, R2, R3+R4 of two orders)':<52}"
        f"{'sessions':>9}{'calls/session':>15}{'floor':>8}{'ratio':>8}  target"
    ]
    totals = {False: [0, 0, 0], True: [0, 0, 0]}
    for name, runs in figures.items():
        for cached, run in zip((False, True), runs, strict=True):
            label = f"{name}, {'resource cache' if cached else 'no resource cache'}"
            lines.append(_line(label, run, cached))
            for index, value in enumerate((run.sessions, run.calls, run.distinct)):
                totals[cached][index] += value
    for cached in (False, True):
        label = f"both stores, {'resource cache' if cached else 'no resource cache'}"
        lines.append(_line(label, Sessions(*totals[cached]), cached))
    return lines


def _line(label: str, run: Sessions, cached: bool) -> str:
    target = ("<= 1.00x floor " + ("PASS" if run.ratio <= 1.0 else "FAIL")) if cached else ""
    per = run.calls / max(run.sessions, 1)
    floor = run.distinct / max(run.sessions, 1)
    return f"{label:<52}{run.sessions:>9}{per:>15.1f}{floor:>8.1f}{run.ratio:>7.2f}x  {target}"


if __name__ == "__main__":
    configure_logging("warning")
    print("\n".join(report(measure())))
