"""Signing secrets that can be rotated: the first one signs, every one verifies, so a new
secret goes first and the old one stays until what it signed has expired."""

from __future__ import annotations

from collections.abc import Iterable


class SigningSecrets:
    def __init__(self, secrets: Iterable[bytes], *, what: str) -> None:
        self.verifying = tuple(secrets)
        if not self.verifying:
            raise ValueError(f"at least one {what} secret is required")
        self.signing = self.verifying[0]
