"""The pieces one running bridge is made of, shared by every request."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Adapter
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
