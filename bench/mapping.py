"""The mapping's CPU per request: `python -m bench.mapping`.

Takes the Elastic Path payloads the benchmark's platform replays (`bench.platform`) and
times, in this process and without any I/O, each step the bridge runs on them for an R3
order detail and for the R2 page: reading the platform's bytes into records (parse, as
the adapter does when it keeps no resources, which is how the benchmark runs), records
into ERC models (map), models into the route's body (view), and the body into bytes
(render); then the four together (total). Each figure is the median over several
timed loops of CPU time (`time.process_time`), in µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from adapters.elasticpath import SHIPPING_GROUP_LIST
from bench.__main__ import R2, R
from bench.platform import WITH_ITEMS, _record
from mappings import elasticpath as ep
from mappings import views
from mappings.models import Order
from mappings.records import parse_json
from mappings.wire import render

STEPS = ("parse", "map", "view", "render", "total")


def _r3_parse(payloads: dict[str, bytes]) -> Callable[[], Any]:
    def parse() -> tuple[ep.EPOrder, list[ep.EPItem] | None, list[ep.EPShippingGroup]]:
        document = parse_json(ep.EPOrderDocument, payloads[WITH_ITEMS])
        groups = parse_json(SHIPPING_GROUP_LIST, payloads["/shipping-groups"])
        return document.data, document.items(), groups.data

    return parse


def _r3_map(parsed: Any) -> Order:
    raw, items, groups = parsed
    return ep.order(raw, items=items, shipping_groups=groups)


def _r3_view(order: Order) -> Any:
    href = f"{R}/customers/{order.customer_id}/orders/{order.id}"
    return views.order_detail(order, brand=None, self_href=href)


def _r2_parse(payloads: dict[str, bytes]) -> Callable[[], Any]:
    def parse() -> ep.EPOrderList:
        return parse_json(ep.EPOrderList, payloads["list"])

    return parse


def _r2_map(page: ep.EPOrderList) -> list[Order]:
    return [ep.order(raw, items=items) for raw, items in page.with_items()]


def _r2_view(orders: list[Order]) -> Any:
    return views.orders_page(orders, brand=None, self_href=R2, next_href=None)


Steps = tuple[Callable[[], Any], Callable[[Any], Any], Callable[[Any], Any]]


def _per_call_us(call: Callable[[], Any], calls: int, loops: int) -> float:
    """The median over `loops` of the CPU µs one call took, each loop `calls` calls."""
    timings = []
    for _ in range(loops):
        start = time.process_time()
        for _ in range(calls):
            call()
        timings.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(timings)


def measure(steps: Steps, *, calls: int, loops: int) -> dict[str, float]:
    parse, to_models, to_body = steps
    parsed = parse()
    models = to_models(parsed)
    body = to_body(models)

    def total() -> bytes:
        return render(to_body(to_models(parse())))

    timed: dict[str, Callable[[], Any]] = {
        "parse": parse,
        "map": lambda: to_models(parsed),
        "view": lambda: to_body(models),
        "render": lambda: render(body),
        "total": total,
    }
    return {step: _per_call_us(timed[step], calls, loops) for step in STEPS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed loop")
    parser.add_argument("--loops", type=int, default=7, help="timed loops per figure")
    args = parser.parse_args()
    payloads = asyncio.run(_record())
    routes: dict[str, Steps] = {
        "R3 order detail": (_r3_parse(payloads), _r3_map, _r3_view),
        "R2 order page": (_r2_parse(payloads), _r2_map, _r2_view),
    }
    print(f"{'µs per request':<18}" + "".join(f"{step:>9}" for step in STEPS))
    for name, steps in routes.items():
        figures = measure(steps, calls=args.calls, loops=args.loops)
        print(f"{name:<18}" + "".join(f"{figures[step]:>9.1f}" for step in STEPS))


if __name__ == "__main__":
    main()
