"""`set_within`: a context variable set for a block, as it was after it, however it ends."""

from __future__ import annotations

from contextvars import ContextVar

import pytest

from adapters.scoped import set_within

LEVEL: ContextVar[str] = ContextVar("level", default="outer")


def test_the_value_holds_inside_the_block_and_the_old_one_after() -> None:
    with set_within(LEVEL, "inner") as given:
        assert given == "inner"
        assert LEVEL.get() == "inner"
        with set_within(LEVEL, "innermost"):
            assert LEVEL.get() == "innermost"
        assert LEVEL.get() == "inner"
    assert LEVEL.get() == "outer"


def test_the_old_value_is_back_after_a_block_that_raised() -> None:
    with pytest.raises(RuntimeError), set_within(LEVEL, "inner"):
        raise RuntimeError("the block failed")
    assert LEVEL.get() == "outer"
