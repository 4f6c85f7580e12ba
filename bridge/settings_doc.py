"""The variable tables of the README and of each platform's page, from the settings models.

A table sits between `<!-- settings:NAME -->` and `<!-- /settings -->`, where NAME is
`bridge` for the bridge's own variables or an adapter's name for that adapter's. Each row
is one field: its variable, its default and its `Field(description=...)`.

    python -m bridge.settings_doc          # print every table
    python -m bridge.settings_doc --write  # refresh them in the docs
"""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from adapters.registry import adapter_class
from adapters.settings_types import SHOWN_DEFAULT
from bridge.settings import BridgeSettings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs" / "platforms").glob("*.md")))
BRIDGE = "bridge"
END = "<!-- /settings -->"
_TABLE = re.compile(
    r"(<!-- settings:(?P<name>[a-z0-9_]+) -->\n)(?P<table>.*?)(?=" + re.escape(END) + ")", re.S
)


def settings_class(name: str) -> type[BaseSettings]:
    """The settings model a table is named after."""
    if name == BRIDGE:
        return BridgeSettings
    found = adapter_class(name).settings_class
    if found is None:
        raise LookupError(f"the {name} adapter has no settings")
    return found


def table(model: type[BaseSettings]) -> str:
    """`| variable | default | meaning |`, one row per field, in declaration order."""
    prefix = str(model.model_config.get("env_prefix", ""))
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        variable = f"{prefix}{field.alias or name}".upper()
        lines.append(f"| `{variable}` | {shown_default(field)} | {field.description or ''} |")
    return "\n".join(lines) + "\n"


def shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get(SHOWN_DEFAULT), str):
        return str(extra[SHOWN_DEFAULT])
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, datetime.date):
        return f"`{value.isoformat()}`"
    return f"`{value}`"


def tables_in(text: str) -> Iterator[tuple[str, str]]:
    """(name, table) for each marked table of a document, as the document has it."""
    for match in _TABLE.finditer(text):
        yield match["name"], match["table"]


def regenerated(text: str) -> str:
    """The document with each marked table replaced by the generated one."""
    return _TABLE.sub(lambda match: match[1] + table(settings_class(match["name"])), text)


def main(argv: list[str]) -> int:
    write = "--write" in argv
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        if write:
            fresh = regenerated(text)
            if fresh != text:
                path.write_text(fresh, encoding="utf-8")
        else:
            for name, _ in tables_in(text):
                generated = table(settings_class(name))
                sys.stdout.write(f"{path.relative_to(ROOT)} ({name}):\n{generated}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
