"""`Idempotency-Key` records of the write routes (SPEC §7).

A write retried with the same key, route, ids and body within `TTL_S` gets the first
answer again without reaching the platform. Which answers are kept:

- Every answer given once the write may have reached the platform: successes, refusals,
  and server errors alike (502, 503, 504 "the change was not confirmed"). After a
  timeout or a lost connection the platform may still apply the change, and a retry that
  sent it again could cancel or move a parcel twice.
- Not a server error (500 and above) given before the write went out: a read before it
  failed (the order's ownership, its state), or its own call was never sent (`unsent`:
  the connection was refused, the circuit was open, the call budget, a call slot or a
  connection had no turn for it in time, no time was left, no token could be had).
  Nothing was written, so a retry with the same key tries again. The record is dropped,
  as it is when the write ends without any answer.

Records belong to the caller that made them: another caller's key is another record.
The store here lives in one process; `IdempotencyStore` is what a shared store (Redis)
implements to replace it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cachetools import TTLCache

from adapters.errors import AdapterError

TTL_S = 24 * 3600.0
MAX_RECORDS = 10_000
"""Bounds the process's memory; past it the oldest records go first."""
HEADER = "idempotency-key"
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
"""1 to 255 visible ASCII characters."""
_KEY = re.compile(KEY_PATTERN)


def valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def fingerprint(*parts: bytes | str) -> str:
    """What a repeat must match: the route, the ids and the body, each delimited."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def unsent(error: BaseException) -> bool:
    """Whether `error` ended the write before it was sent, so that its answer is not kept
    (see the module docstring). The upstream client says so of its errors raised before
    any byte of the call was written (`AdapterError.may_have_arrived`); an adapter sends
    its write once, without retries, and answers a failed re-read after it as not
    confirmed, so none can come once the write has gone."""
    return isinstance(error, AdapterError) and not error.may_have_arrived


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Claim(StrEnum):
    NEW = "new"
    """The key is this request's: answer it, then `finish` or `release`."""
    REPLAY = "replay"
    """The same request was answered already: `Lookup.answer` is that answer."""
    RUNNING = "running"
    """The same request is being answered now (409)."""
    REUSED = "reused"
    """The key was used for another route, order or body (422)."""
    UNCONFIRMED = "unconfirmed"
    """The shared store did not say in time whether the key is free (503, to repeat)."""


@dataclass(frozen=True)
class Lookup:
    claim: Claim
    answer: Answer | None = None


class IdempotencyStore(Protocol):
    async def claim(self, owner: str, key: str, fingerprint: str) -> Lookup:
        """Take `key` for this request, or say why not."""
        ...

    async def finish(self, owner: str, key: str, answer: Answer) -> None:
        """Keep `answer` for repeats of the request that claimed `key`."""
        ...

    async def release(self, owner: str, key: str) -> None:
        """Forget the claim: a repeat will be answered afresh."""
        ...


@dataclass
class _Record:
    fingerprint: str
    answer: Answer | None = None


class MemoryIdempotencyStore:
    """The records of one process: at most `max_records`, each for `ttl_s` seconds."""

    def __init__(
        self,
        *,
        max_records: int = MAX_RECORDS,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records: TTLCache[tuple[str, str], _Record] = TTLCache(
            maxsize=max_records, ttl=ttl_s, timer=clock
        )

    def __len__(self) -> int:
        return len(self._records)

    async def claim(self, owner: str, key: str, fingerprint: str) -> Lookup:
        record = self._records.get((owner, key))
        if record is None:
            self._records[(owner, key)] = _Record(fingerprint)
            return Lookup(Claim.NEW)
        if record.fingerprint != fingerprint:
            return Lookup(Claim.REUSED)
        if record.answer is None:
            return Lookup(Claim.RUNNING)
        return Lookup(Claim.REPLAY, record.answer)

    async def finish(self, owner: str, key: str, answer: Answer) -> None:
        record = self._records.get((owner, key))
        if record is not None:
            record.answer = answer

    async def release(self, owner: str, key: str) -> None:
        self._records.pop((owner, key), None)
