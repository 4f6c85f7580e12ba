"""The shared translation of platform answers (`adapters.answers`), and its one name for
refused credentials on every platform."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from structlog.testing import capture_logs

from adapters.answers import CREDENTIALS_REJECTED, LogFields, PlatformProblem
from adapters.base import HTTPAdapter
from adapters.errors import AdapterError, NotFound, UpstreamError, UpstreamUnavailable
from adapters.registry import BUILTIN_ADAPTERS, AdapterSource
from adapters.responses import PlatformResponse

SAID = PlatformProblem(platform_status=7, code="E7", title="Nope", detail="said the platform")


class Acme(HTTPAdapter):
    name = "acme"
    title = "Acme"
    credentials = "ACME_TOKEN"

    def parse_error(self, body: Any) -> PlatformProblem:
        return SAID if body == {"error": "nope"} else PlatformProblem()


class Answer(NamedTuple):
    status: int
    missing: str | None
    authenticating: bool
    raised: type[AdapterError] | None
    event: str | None
    level: str | None = "error"


TABLE = {
    "200 is no error": Answer(200, "Order 1 not found", False, None, None),
    "204 is no error": Answer(204, None, False, None, None),
    "404 of a named resource": Answer(404, "Order 1 not found", False, NotFound, None),
    "404 of nothing named": Answer(404, None, False, UpstreamError, "platform_rejected_request"),
    "401": Answer(401, "Order 1 not found", False, UpstreamUnavailable, CREDENTIALS_REJECTED),
    "403": Answer(403, None, False, UpstreamUnavailable, CREDENTIALS_REJECTED),
    "400 from the token endpoint": Answer(
        400, None, True, UpstreamUnavailable, CREDENTIALS_REJECTED
    ),
    "400 elsewhere": Answer(400, None, False, UpstreamError, "platform_rejected_request"),
    "422": Answer(422, "Order 1 not found", False, UpstreamError, "platform_rejected_request"),
    "429 past the retries": Answer(429, None, False, UpstreamError, "platform_error", "warning"),
    "500": Answer(500, None, False, UpstreamError, "platform_error", "warning"),
}


def answered(status: int, body: bytes = b'{"error": "nope"}') -> PlatformResponse:
    return PlatformResponse(status, [(b"Content-Type", b"application/json")], body)


@pytest.mark.parametrize("answer", TABLE.values(), ids=TABLE.keys())
def test_the_shared_translation_table(answer: Answer) -> None:
    adapter = Acme()
    response = answered(answer.status)
    with capture_logs() as logs:
        if answer.raised is None:
            adapter.raise_for_status(
                response,
                "/orders/{id}",
                missing=answer.missing,
                authenticating=answer.authenticating,
            )
        else:
            with pytest.raises(answer.raised) as caught:
                adapter.raise_for_status(
                    response,
                    "/orders/{id}",
                    missing=answer.missing,
                    authenticating=answer.authenticating,
                    request_ref="r-1",
                )
            assert type(caught.value) is answer.raised
            if answer.raised is NotFound:
                assert caught.value.message == answer.missing
            if answer.raised is UpstreamUnavailable:
                assert isinstance(caught.value, UpstreamUnavailable)
                assert caught.value.credentials_rejected
                assert caught.value.message == (
                    "Acme rejected the bridge's credentials (check ACME_TOKEN)"
                )
            assert "said the platform" not in caught.value.message  # the logs only
    if answer.event is None:
        assert logs == []
        return
    (logged,) = logs
    assert (logged["event"], logged["log_level"]) == (answer.event, answer.level)
    assert logged["platform"] == "acme"
    assert logged["endpoint"] == "/orders/{id}"
    assert logged["status"] == answer.status
    assert (logged["code"], logged["title"], logged["detail"]) == (
        "E7",
        "Nope",
        "said the platform",
    )
    assert logged["request_ref"] == "r-1"


def test_a_body_that_is_not_json_is_read_as_saying_nothing() -> None:
    with capture_logs() as logs, pytest.raises(UpstreamError):
        Acme().raise_for_status(answered(500, b"<html>Bad Gateway</html>"), "/orders")
    assert (logs[0]["code"], logs[0]["detail"]) == (None, None)


class Picky(Acme):
    credential_statuses = frozenset({401})

    def platform_rule(
        self, status: int, problem: PlatformProblem, fields: LogFields
    ) -> AdapterError | None:
        return NotFound("gone, says its code") if problem.code == "E7" else None

    def other_error(self, status: int, problem: PlatformProblem, fields: LogFields) -> AdapterError:
        return UpstreamError(f"picky {status}")


def test_a_platform_rule_comes_before_the_shared_ones() -> None:
    with pytest.raises(NotFound, match="gone, says its code"):
        Picky().raise_for_status(answered(401), "/orders")


def test_the_platform_decides_which_statuses_refuse_credentials_and_what_else_means() -> None:
    with pytest.raises(UpstreamError, match="picky 403"):
        Picky().raise_for_status(answered(403, b"{}"), "/orders")
    with pytest.raises(UpstreamUnavailable):
        Picky().raise_for_status(answered(401, b"{}"), "/orders")


def http_adapters() -> list[type[HTTPAdapter]]:
    loaded = [AdapterSource(name, target).load() for name, target in BUILTIN_ADAPTERS.items()]
    return [cls for cls in loaded if issubclass(cls, HTTPAdapter)]


@pytest.mark.parametrize("cls", http_adapters(), ids=lambda cls: cls.name)
@pytest.mark.parametrize("authenticating", [False, True], ids=["api", "token endpoint"])
def test_refused_credentials_are_one_log_event_on_every_platform(
    cls: type[HTTPAdapter], authenticating: bool
) -> None:
    """An alert on the event fires for every platform, and the message says what to check."""
    assert cls.settings_class is not None
    adapter = cls(cls.settings_class.model_construct())
    with capture_logs() as logs, pytest.raises(UpstreamUnavailable) as caught:
        adapter.raise_for_status(answered(401, b"{}"), "/x", authenticating=authenticating)
    assert caught.value.credentials_rejected
    assert adapter.credentials and adapter.credentials.split()[0] in caught.value.message
    assert [entry["event"] for entry in logs] == [CREDENTIALS_REJECTED]
    assert logs[0]["platform"] == cls.name


def test_every_platform_adapter_is_covered() -> None:
    assert {cls.name for cls in http_adapters()} == {"elasticpath", "adobe_cpapi", "bigcommerce"}
