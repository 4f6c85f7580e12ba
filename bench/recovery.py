"""Time from a healed platform to the bridge's first 200, with the default breaker periods.

    .venv/bin/python -m bench.recovery

Against the Elastic Path emulator, everything on 127.0.0.1:

- **cut probe**: 500s open the breaker; the platform hangs through the first probe,
  which the request deadline cuts; then the platform heals.
- **blip**: 500s open the breaker, and the platform is healthy again at once.

Each prints the seconds from the healing to the first 200 (asking every 50 ms), with the
first open period of the breaker for scale.
"""

from __future__ import annotations

import time

import httpx

from adapters.elasticpath import ElasticPathAdapter
from bridge.app import create_app
from bridge.logs import configure_logging
from bridge.settings import BridgeSettings
from tests.emulators import elasticpath_fixtures as fx
from tests.emulators.elasticpath import ElasticPathEmulator
from tests.emulators.faults import Hang
from tests.platform_settings import elasticpath_settings
from tests.servers import serve

API_KEY = "recovery-bench-key-0123456789abcdef"
ORDER = f"/erc/ecommerce/connections/customers/{fx.MARIA}/orders/{fx.ORDER_COMPLETE}"
ORDER_PATH = f"/v2/orders/{fx.ORDER_COMPLETE}"
POLL_S = 0.05
GIVE_UP_S = 180.0
UNTIL_CLEARED = 1_000
HANG_S = 30.0
"""Past any request deadline the bridge allows."""


def open_with_500s(client: httpx.Client, emulator: ElasticPathEmulator) -> None:
    """The order's calls fail until the breaker opens (a 503), and not after."""
    emulator.fail_next(500, times=UNTIL_CLEARED, path=ORDER_PATH)
    statuses = [client.get(ORDER).status_code]
    while statuses[-1] != 503:
        assert statuses[-1] == 502 and len(statuses) < 10, statuses
        statuses.append(client.get(ORDER).status_code)
    emulator.faults.clear()


def seconds_to_first_200(client: httpx.Client) -> float:
    healed = time.monotonic()
    while client.get(ORDER).status_code != 200:
        if time.monotonic() - healed > GIVE_UP_S:
            raise RuntimeError(f"no 200 within {GIVE_UP_S:g} s of the healing")
        time.sleep(POLL_S)
    return time.monotonic() - healed


def main() -> None:
    configure_logging("error")  # the figures only
    emulator = ElasticPathEmulator(fx.default_store())
    hang = Hang(emulator.app, HANG_S)
    with serve(hang) as platform_url:
        settings = BridgeSettings(
            _env_file=None, adapter="elasticpath", api_keys=API_KEY, cache_ttl_s=0
        )
        adapter = ElasticPathAdapter(elasticpath_settings(platform_url))
        with (
            serve(create_app(settings, adapter)) as bridge_url,
            httpx.Client(base_url=bridge_url, headers={"X-API-Key": API_KEY}, timeout=60) as client,
        ):
            assert client.get(ORDER).status_code == 200
            print(
                f"first open period {settings.breaker_open_s:g} s, longest "
                f"{settings.breaker_open_max_s:g} s, request deadline {settings.deadline_s:g} s"
            )

            open_with_500s(client, emulator)
            hang.on = True
            time.sleep(settings.breaker_open_s)
            cut = client.get(ORDER)
            assert cut.status_code == 504, cut.status_code
            hang.on = False
            print(f"cut probe: first 200 {seconds_to_first_200(client):.2f} s after healing")

            open_with_500s(client, emulator)
            print(f"blip:      first 200 {seconds_to_first_200(client):.2f} s after healing")


if __name__ == "__main__":
    main()
