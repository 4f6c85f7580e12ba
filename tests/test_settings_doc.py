"""The variable tables in README.md and docs/platforms/ are the ones the settings models
produce, and every variable is documented where it is declared."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.registry import available_adapters
from adapters.settings_types import SHOWN_DEFAULT
from bridge import settings_doc
from bridge.settings_doc import BRIDGE, DOCUMENTS, ROOT, settings_class, table, tables_in

REGENERATE = "python -m bridge.settings_doc --write"


def marked_tables() -> list[tuple[Path, str, str]]:
    return [
        (path, name, found)
        for path in DOCUMENTS
        for name, found in tables_in(path.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize(
    ("path", "name", "found"),
    marked_tables(),
    ids=lambda value: value.name if isinstance(value, Path) else None,
)
def test_the_docs_variable_table_is_current(path: Path, name: str, found: str) -> None:
    where = path.relative_to(ROOT)
    assert found == table(settings_class(name)), (
        f"{where}'s {name} variable table is stale: run {REGENERATE}"
    )


def test_the_bridge_and_every_adapter_with_settings_have_a_table() -> None:
    documented = {name for _, name, _ in marked_tables()}
    with_settings = {
        name for name in available_adapters() if settings_class_or_none(name) is not None
    }
    missing = ({BRIDGE} | with_settings) - documented
    assert not missing, (
        f"no variable table for {', '.join(sorted(missing))}: put <!-- settings:NAME --> and "
        f"<!-- /settings --> in its page under docs/platforms/, then run {REGENERATE}"
    )
    assert documented <= {BRIDGE} | with_settings


def settings_class_or_none(name: str) -> type[BaseSettings] | None:
    try:
        return settings_class(name)
    except LookupError:
        return None


@pytest.mark.parametrize("name", [BRIDGE, *available_adapters()])
def test_every_variable_is_described(name: str) -> None:
    model = settings_class_or_none(name)
    if model is None:
        pytest.skip(f"the {name} adapter has no settings")
    undescribed = [field for field, info in model.model_fields.items() if not info.description]
    assert not undescribed


class Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")

    base_url: str = Field(description="where it is")
    retries: int = Field(default=3, description="how often")
    pause_s: float = Field(default=2.0, description="how long")
    since: date = Field(default=date(2000, 1, 1), description="from when")
    note: str | None = Field(default=None, description="anything")
    strict: bool = Field(default=False, description="whether")
    secret: str = Field(
        default="", description="signs", json_schema_extra={SHOWN_DEFAULT: "random per process"}
    )


def test_a_table_has_one_row_per_field_with_its_default_and_meaning() -> None:
    assert table(Example).splitlines() == [
        "| variable | default | meaning |",
        "|---|---|---|",
        "| `EXAMPLE_BASE_URL` | required | where it is |",
        "| `EXAMPLE_RETRIES` | `3` | how often |",
        "| `EXAMPLE_PAUSE_S` | `2` | how long |",
        "| `EXAMPLE_SINCE` | `2000-01-01` | from when |",
        "| `EXAMPLE_NOTE` | none | anything |",
        "| `EXAMPLE_STRICT` | `false` | whether |",
        "| `EXAMPLE_SECRET` | random per process | signs |",
    ]


def test_regenerating_replaces_only_what_is_between_the_markers() -> None:
    document = "# Setup\n\n<!-- settings:bridge -->\n| old |\n<!-- /settings -->\n\nAfter.\n"
    fresh = settings_doc.regenerated(document)
    assert fresh.startswith("# Setup\n\n<!-- settings:bridge -->\n| variable |")
    assert fresh.endswith("|\n<!-- /settings -->\n\nAfter.\n")
    assert dict(tables_in(fresh)) == {BRIDGE: table(settings_class(BRIDGE))}
