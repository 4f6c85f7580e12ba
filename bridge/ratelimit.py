"""Failed-authentication limiter, keyed by client address.

An address that fails to authenticate `limit` times within `window_s` seconds has its
failing attempts answered 429 for the next `window_s` seconds. Only failures are counted
and only failures are refused: a valid credential is always accepted, so whoever shares an
address with the rightful caller (a NAT, a load balancer) cannot lock it out. Nothing waits
and nothing is shared between addresses, so other clients are never slowed down. At most
`max_clients` addresses are remembered; the least recently used ones are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

DEFAULT_LIMIT = 10
DEFAULT_WINDOW_S = 60.0
DEFAULT_MAX_CLIENTS = 65_536


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float | None = None


class FailedAuthLimiter:
    def __init__(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        window_s: float = DEFAULT_WINDOW_S,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        # An entry lives `window_s` from its last write: the first failure opens the
        # window, the failure that blocks the address rewrites it to outlive the block.
        self._failures: TTLCache[str, _Failures] = TTLCache(
            maxsize=max_clients, ttl=window_s, timer=clock
        )
        self._blocks_end = -math.inf

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it is not blocked."""
        if self._clock() >= self._blocks_end:  # nobody is blocked: the usual case
            return None
        failures = self._failures.get(client)
        if failures is None or failures.blocked_until is None:
            return None
        remaining = failures.blocked_until - self._clock()
        return max(1, math.ceil(remaining)) if remaining > 0 else None

    def failed(self, client: str) -> int | None:
        """Count a failed attempt of `client`. While it is locked out the attempt is not
        counted, and the answer is the seconds it must wait (else None)."""
        retry_after = self.retry_after(client)
        if retry_after is not None:
            return retry_after
        failures = self._failures.get(client)
        if failures is None:
            failures = self._failures[client] = _Failures()
        if failures.blocked_until is not None:  # a block that has just ended
            failures = self._failures[client] = _Failures()
        failures.count += 1
        if failures.count >= self.limit:
            failures.blocked_until = self._clock() + self.window_s
            self._blocks_end = max(self._blocks_end, failures.blocked_until)
            self._failures[client] = failures
        return None

    def __len__(self) -> int:
        return len(self._failures)
