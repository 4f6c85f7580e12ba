"""Adobe CPAPI against the adapter conformance suite, through its emulator's fault hooks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from adapters.adobe_cpapi import AdobeCPAPIAdapter
from adapters.base import Adapter
from tests.conformance import ALL_FAULTS, AdapterConformance, Fault, Manifest, Platform, WriteCases
from tests.conftest import FAST_SHORT_READ
from tests.emulators.adobe_cpapi import TOKEN_PATH, CPAPIEmulator
from tests.emulators.adobe_fixtures import (
    EURO,
    LARKSPUR,
    PARTLY_RETURNED,
    PAST_WINDOW,
    QUIET,
    RECENT_LINES,
    RECENT_NEW,
    RETURNED,
    RETURNS,
)
from tests.platform_settings import adobe_settings
from tests.servers import serve

UNTIL_CLEARED = 1_000

# The write cases (W1 cancel, W3 cancel items), all of customer WRITE_CUSTOMER; the
# adapter judges the 14-day window by the emulator's day (`build_adapter`).
WRITE_CUSTOMER = RETURNS
CANCELLABLE_ORDER = RECENT_NEW
"""W1 applies: a RETURN of both lines; the next R3 shows it cancelled."""
REFUSED_ORDER = PAST_WINDOW
"""W1 and W3 (ids `1`) answer 422 `not_allowed`: the order is 20 days old."""
CANCELLED_ORDER = RETURNED
"""W1 answers 200 without a write: every line is already returned."""
OTHER_CUSTOMERS_ORDER = "5120008217"
"""LARKSPUR's: 404 for WRITE_CUSTOMER, nothing written."""
ITEMS_ORDER, CANCELLABLE_ITEM_IDS = RECENT_LINES, ("2", "3")
"""W3 applies: a RETURN of lines 2 and 3; line 1 stays."""
RETURNED_ITEMS_ORDER, RETURNED_ITEM_IDS = PARTLY_RETURNED, ("1",)
"""W3 answers 200 without a write: line 1 is already returned."""
ERRORS = {
    Fault.NOT_FOUND: (404, "2115"),
    Fault.UNAUTHORIZED: (401, "4116"),
    Fault.RATE_LIMITED: (429, "4118"),
    Fault.SERVER_ERROR: (500, "1124"),
}


class AdobeFaults:
    """CPAPI error answers through the emulator's `fail_next`; bodies that are not JSON,
    which the emulator cannot send, from this thin ASGI layer in front of it."""

    def __init__(self, emulator: CPAPIEmulator) -> None:
        self.emulator = emulator
        self.malformed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.malformed and scope["type"] == "http" and scope["path"] != TOKEN_PATH:
            await Response(b'{"totalCount": 3, "items": [', media_type="application/json")(
                scope, receive, send
            )
            return
        await self.emulator.app(scope, receive, send)

    def inject(self, fault: Fault) -> None:
        if fault is Fault.MALFORMED:
            self.malformed = True
            return
        status, code = ERRORS[fault]
        self.emulator.fail_next(status, code, times=UNTIL_CLEARED)

    def clear(self) -> None:
        self.malformed = False
        self.emulator.reset()


class TestAdobeConformance(AdapterConformance):
    manifest = Manifest(
        customer=LARKSPUR,
        orders=5,
        order="5120008217",
        items=2,
        empty_customer=QUIET,
        other_customer=EURO,
        other_order="5150000101",
        faults=ALL_FAULTS,
        writes=WriteCases(
            customer=WRITE_CUSTOMER,
            cancellable=CANCELLABLE_ORDER,
            cancelled=CANCELLED_ORDER,
            not_cancellable=REFUSED_ORDER,
            lines_order=ITEMS_ORDER,
            lines=CANCELLABLE_ITEM_IDS,
        ),
    )

    @contextmanager
    def serve_platform(self) -> Iterator[Platform]:
        emulator = CPAPIEmulator()
        faults = AdobeFaults(emulator)
        with serve(faults) as url:
            yield Platform(url=url, faults=faults, emulator=emulator)

    def build_adapter(self, platform: Platform) -> Adapter:
        emulator: CPAPIEmulator = platform.emulator
        settings = adobe_settings(emulator, platform.url)
        return AdobeCPAPIAdapter(settings, http=FAST_SHORT_READ, now=lambda: emulator.today)
