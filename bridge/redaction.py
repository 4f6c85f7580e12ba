"""One structlog processor that keeps credentials, tokens and card numbers out of every log
line, the bridge's own and uvicorn's, including platform error bodies quoted in them.

What is removed:
- values under sensitive keys (`Authorization`, `X-API-Key`, `*secret`, `*token`,
  `*password`, cookies...), at any depth;
- every configured secret (`register_secrets`), wherever it appears in a string;
- `Bearer`/`Basic` credentials, JWTs and `secret=...`-style pairs inside text;
- card numbers (13-19 digits passing the Luhn check), of which the last 4 are kept.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, SecretStr

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4
"""Shorter values are not secrets worth hunting for (and would mangle ordinary text)."""

_SENSITIVE_SUFFIXES = (
    "authorization",
    "apikey",
    "apikeys",
    "secret",
    "secrets",
    "token",
    "tokens",
    "password",
    "passwd",
    "credentials",
    "cookie",
    "basicusers",
    "oauthclients",
    "metricskey",
)
_CARD_KEYS = ("cardnumber", "pan")

# A credential, unlike an English word after "Basic", has a digit, a capital or a symbol.
_SCHEME_CREDENTIALS = re.compile(
    r"\b((?i:bearer|basic))(\s+)(?!realm=)(?=[a-z]*[A-Z0-9\-._~+/=])[A-Za-z0-9\-._~+/]+=*"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)([\"']?\b[a-z0-9_-]*(?:secret|token|password|passwd|api[_-]?key|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?)(?!(?i:bearer|basic|digest)\s|\[REDACTED\])([^\"'\s&,;}]+)"
)
_CARD = re.compile(r"(?<![0-9])[2-6](?:[ -]?[0-9]){12,18}(?![0-9])")
# Text none of the patterns above can match: no pair separator, no JWT, no scheme word,
# no run of four digits. Most log text is like this, and one scan settles it.
_SUSPECT = re.compile(r"[=:]|eyJ|(?i:bearer|basic)|[0-9][ -]?[0-9][ -]?[0-9][ -]?[0-9]")
# Fields the logging pipeline itself adds; they never carry caller data.
_OWN_FIELDS = frozenset({"timestamp", "level", "logger", "duration_ms", "status"})
_CACHED_TEXT = 256


def _normalized(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_card(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit())
    return "*" * (len(digits) - 4) + digits[-4:] if len(digits) > 4 else REDACTED


def _card_match(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group())
    return mask_card(digits) if _luhn(digits) else match.group()


class Redactor:
    """The processor; holds the configured secrets to look for in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._known: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        # Event names, routes and methods repeat on every line: scrub each once.
        self._short_text = lru_cache(maxsize=1024)(self._scrub_text)

    def register(self, secrets: Iterable[str]) -> None:
        with self._lock:
            before = len(self._secrets)
            self._secrets.update(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)
            if len(self._secrets) != before:
                longest_first = sorted(self._secrets, key=len, reverse=True)
                self._known = re.compile("|".join(re.escape(s) for s in longest_first))
                self._short_text.cache_clear()

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if key not in _OWN_FIELDS:
                event_dict[key] = self._value(key, value)
        return event_dict

    def _value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and value is not None:
            normalized = _normalized(key)
            if normalized.endswith(_CARD_KEYS) and not isinstance(value, dict | list | tuple):
                return mask_card(str(value))
            if normalized.endswith(_SENSITIVE_SUFFIXES) and not normalized.endswith("tokentype"):
                return REDACTED
        return self.scrub(value)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._item(item) for item in value]
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"))
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
            masked = self.text(str(value))
            return value if masked == str(value) else masked
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, BaseModel):
            return self.scrub(value.model_dump(mode="json"))
        return value

    def _item(self, item: Any) -> Any:
        # Header lists: [(name, value), ...] are judged by their name, like dict entries.
        if isinstance(item, list | tuple) and len(item) == 2:
            name = item[0].decode("latin-1") if isinstance(item[0], bytes) else item[0]
            if isinstance(name, str):
                return [name, self._value(name, item[1])]
        return self.scrub(item)

    def text(self, text: str) -> str:
        if len(text) <= _CACHED_TEXT:
            return self._short_text(text)
        return self._scrub_text(text)

    def _scrub_text(self, text: str) -> str:
        known = self._known
        if known is not None:
            text = known.sub(REDACTED, text)
        if not _SUSPECT.search(text):
            return text
        text = _JWT.sub(REDACTED, text)
        text = _SCHEME_CREDENTIALS.sub(rf"\1\2{REDACTED}", text)
        text = _SECRET_PAIR.sub(rf"\1{REDACTED}", text)
        return _CARD.sub(_card_match, text)


redact = Redactor()
"""The process's one redaction processor (logging is process-wide too)."""


def register_secrets(secrets: Iterable[str]) -> None:
    redact.register(secrets)


def secret_values(model: BaseModel | None) -> list[str]:
    """Every SecretStr value of a settings model, for `register_secrets`."""
    found: list[str] = []
    if model is None:
        return found
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, tuple | list) else (value,)
        for item in values:
            if isinstance(item, SecretStr):
                found.append(item.get_secret_value())
    return found
