"""How long a string from a platform may be.

Every platform payload model reads its strings through these types, so that an oversized
field fails the mapping with its path (answered 502, logged by name, never by value)
instead of being served and cached. The limits are far above real data and far below
what would matter to the pod's memory:

- `Short`, 512 characters: ids, names, emails, phone numbers, address parts, SKUs,
  statuses and codes;
- `Url`, 2,048 characters: links and image URLs (what browsers and CDNs reliably handle);
- `Text`, 4,096 characters: free texts such as descriptions, reasons and option values;
- amounts, 64 characters: decimal strings (`mappings.money.to_decimal`), whose values
  are bounded besides: below 10**15, at most 10 decimals (`mappings.money`; a JSON
  number is read at a float's 15 significant digits, its noise past them dropped).

The checks are pydantic's own constraints, run while the payload is validated: they add
no pass over the data.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

SHORT_MAX = 512
URL_MAX = 2048
TEXT_MAX = 4096
AMOUNT_MAX = 64

Short = Annotated[str, StringConstraints(max_length=SHORT_MAX)]
Url = Annotated[str, StringConstraints(max_length=URL_MAX)]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX)]


def clipped(text: str | None) -> str | None:
    """`text` cut to `TEXT_MAX`, for what a platform's error body says (logged, never mapped)."""
    return text[:TEXT_MAX] if text is not None else None
