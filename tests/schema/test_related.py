"""`load_distinct` (schema/related.py): a loader's batch function called once for a level's keys."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from strawberry.dataloader import DataLoader

from schema.related import load_distinct


def _context(answer: Any) -> tuple[SimpleNamespace, list[list[str]]]:
    calls: list[list[str]] = []

    async def load(keys: Sequence[str]) -> list[Any]:
        calls.append(list(keys))
        return answer(keys)

    return SimpleNamespace(loaders=SimpleNamespace(things=DataLoader(load_fn=load))), calls


async def test_each_key_is_asked_once_and_the_values_come_back_by_key() -> None:
    context, calls = _context(lambda keys: [k.upper() for k in keys])
    assert await load_distinct(context, "things", ["a", "b"]) == {"a": "A", "b": "B"}  # type: ignore[arg-type]
    assert calls == [["a", "b"]]


async def test_no_keys_no_call() -> None:
    context, calls = _context(lambda keys: [])
    assert await load_distinct(context, "things", []) == {}  # type: ignore[arg-type]
    assert calls == []


async def test_a_wrong_number_of_values_is_an_error_not_a_shifted_answer() -> None:
    context, _ = _context(lambda keys: ["only one"])
    with pytest.raises(ValueError, match="gave 1 values for 2 keys"):
        await load_distinct(context, "things", ["a", "b"])  # type: ignore[arg-type]


async def test_a_value_that_is_an_exception_fails_the_load_as_in_a_dataloader() -> None:
    context, _ = _context(lambda keys: ["fine", LookupError("b is gone")])
    with pytest.raises(LookupError, match="b is gone"):
        await load_distinct(context, "things", ["a", "b"])  # type: ignore[arg-type]
