"""The pieces one running bridge is made of, shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Adapter
from adapters.shared_state import SharedState
from bridge.auth import Authenticator
from bridge.cache import ResponseCache
from bridge.cursors import CursorCodec
from bridge.settings import BridgeSettings


@dataclass(frozen=True)
class Bridge:
    settings: BridgeSettings
    adapter: Adapter
    auth: Authenticator
    cursors: CursorCodec
    cache: ResponseCache
    shared: SharedState | None = None
    """The Redis the replicas share (`ERC_BRIDGE_REDIS_URL`), else None."""
