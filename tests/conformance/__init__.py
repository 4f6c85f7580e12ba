"""The adapter conformance suite (see `tests.conformance.suite` and docs/adapters.md)."""

from tests.conformance.suite import (
    ALL_FAULTS,
    AdapterConformance,
    Fault,
    FaultInjector,
    Manifest,
    Platform,
    WriteCases,
    WriteOrders,
    no_platform,
)

__all__ = [
    "ALL_FAULTS",
    "AdapterConformance",
    "Fault",
    "FaultInjector",
    "Manifest",
    "Platform",
    "WriteCases",
    "WriteOrders",
    "no_platform",
]
