"""The caches the replicas share through Redis, put behind each process's own (SPEC §9)."""

from __future__ import annotations

from adapters.resources import ResourceCache
from adapters.shared_resources import SharedResources
from bridge.forgetting import CacheForgetting, body_dependencies
from bridge.metrics import Metrics, report_shared_caches
from bridge.service import Bridge
from bridge.shared_cache import SharedBodies


def share_caches(bridge: Bridge, resources: ResourceCache | None, metrics: Metrics) -> None:
    """With Redis configured and the caches on: bodies and resources in Redis, single
    flight across replicas, and forgetting that reaches every replica."""
    if bridge.shared is None or not bridge.cache.enabled:
        return
    deadline_s = bridge.settings.deadline_s
    bodies = SharedBodies(bridge.shared, body_dependencies, deadline_s=deadline_s)
    bridge.cache.shared = bodies
    if resources is not None:
        # Half the request's deadline, at most, waiting for another replica's fetch: the
        # other half is left to fetch it here.
        resources.shared = SharedResources(bridge.shared, patience_s=deadline_s)
    CacheForgetting.of(bridge).listen(bridge.shared)
    report_shared_caches(metrics, bodies, resources.shared if resources is not None else None)
