"""Plain leaf fields read directly (schema/fast_fields.py) answer exactly as graphql-core's normal path."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
import strawberry
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from schema.fast_fields import FastLeafFields


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    GREEN = "GREEN"


@strawberry.type
class Thing(relay.Node):
    id: relay.NodeID[str]
    name: str
    nickname: str | None
    size: int
    weight: float | None
    colour: Colour
    tags: list[str]

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times

    @strawberry.field
    async def later(self) -> str:
        return self.name


@strawberry.type
class Odd(relay.Node):
    """A node that names its own ids: its `id` must go the normal way."""

    code: relay.NodeID[str]

    @classmethod
    def resolve_id(cls, root: Odd, *, info: strawberry.Info) -> str:
        return f"odd-{root.code}"


GOOD = Thing(id="1", name="ada", nickname=None, size=3, weight=None, colour=Colour.RED, tags=["a"])
# a null where the schema promises none, and a size that is no Int: both errors of the normal path
BROKEN = Thing(id="2", name=None, nickname="b", size="big", weight=1.5, colour=Colour.GREEN, tags=[])  # type: ignore[arg-type]


class Grumpy(Thing):
    """A Thing whose name and id fail to read: the same errors as the normal way, located alike."""

    @property
    def name(self) -> str:  # type: ignore[override]
        raise ValueError("no name today")

    @property
    def id(self) -> str:  # type: ignore[override]
        raise ValueError("no id today")


@strawberry.type
class Query:
    @strawberry.field
    def grumpy(self) -> Thing | None:
        grumpy = Grumpy.__new__(Grumpy)  # its properties cannot be set
        grumpy.size = 1
        return grumpy

    @strawberry.field
    def things(self) -> list[Thing]:
        return [GOOD, BROKEN]

    @strawberry.field
    def good(self) -> Thing:
        return GOOD

    @strawberry.field
    def odd(self) -> Odd:
        return Odd(code="7")


class NormalWay(StrawberryGraphQLCoreExecutionContext):
    """Counts the fields that went graphql-core's normal way."""

    slow: list[str] = []

    def execute_field(self, parent_type: Any, source: Any, field_details_list: Any, path: Any, *args: Any) -> Any:
        NormalWay.slow.append(field_details_list[0].node.name.value)
        return super().execute_field(parent_type, source, field_details_list, path, *args)


class Counting(FastLeafFields, NormalWay):
    """The fast path, with what it hands to the normal way counted."""


class Resolving(SchemaExtension):
    """Wraps every resolver, as a tracing extension would: the fast path must stand aside."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


def _schema(context_class: type, extensions: list[Any] | None = None) -> strawberry.Schema:
    return strawberry.Schema(query=Query, execution_context_class=context_class, extensions=extensions or [])


def _outcome(result: ExecutionResult) -> tuple[str, list[Any]]:
    """The data as JSON text (so that the order of fields counts too) and the errors, located."""
    errors = [(e.message, e.path, [(loc.line, loc.column) for loc in e.locations or []]) for e in result.errors or []]
    return json.dumps(result.data), errors


def _same(query: str, extensions: list[Any] | None = None) -> tuple[Any, list[Any]]:
    normal = _outcome(_schema(StrawberryGraphQLCoreExecutionContext, extensions).execute_sync(query))
    fast = _outcome(_schema(FastLeafFields, extensions).execute_sync(query))
    assert fast == normal
    return json.loads(fast[0]), fast[1]


async def test_plain_fields_keep_their_place_among_async_ones() -> None:
    query = "{ good { later id name shout tags later2: later size } }"
    normal = _outcome(await _schema(StrawberryGraphQLCoreExecutionContext).execute(query))
    fast = _outcome(await _schema(FastLeafFields).execute(query))
    assert fast == normal
    assert list(json.loads(fast[0])["good"]) == ["later", "id", "name", "shout", "tags", "later2", "size"]


def test_plain_leaves_enums_nulls_aliases_and_typename_answer_as_before() -> None:
    data, errors = _same("{ good { __typename id name alias: name nickname size weight colour tags shout(times: 2) } }")
    assert errors == []
    assert data == {
        "good": {
            "__typename": "Thing",
            "id": relay.to_base64("Thing", "1"),
            "name": "ada",
            "alias": "ada",
            "nickname": None,
            "size": 3,
            "weight": None,
            "colour": "RED",
            "tags": ["a"],
            "shout": "ADAADA",
        }
    }


def test_null_on_a_non_null_field_is_the_same_error_at_the_same_path() -> None:
    _data, errors = _same("{ things { name } }")
    assert errors == [("Cannot return null for non-nullable field Thing.name.", ["things", 1, "name"], [(1, 12)])]


def test_a_value_that_does_not_coerce_is_the_same_error() -> None:
    _data, errors = _same("{ things { size nickname } }")
    assert len(errors) == 1 and errors[0][1] == ["things", 1, "size"]


def test_an_attribute_that_raises_is_the_same_error() -> None:
    data, errors = _same("{ grumpy { size name } }")
    assert data == {"grumpy": None}
    assert errors == [("no name today", ["grumpy", "name"], [(1, 17)])]
    data, errors = _same("{ grumpy { size id } }")
    assert errors == [("no id today", ["grumpy", "id"], [(1, 17)])]


def test_a_node_with_its_own_resolve_id_keeps_it() -> None:
    data, _errors = _same("{ odd { id } }")
    assert data == {"odd": {"id": relay.to_base64("Odd", "odd-7")}}


def test_only_fields_with_resolvers_go_the_normal_way() -> None:
    NormalWay.slow = []
    schema = strawberry.Schema(query=Query, execution_context_class=Counting)
    assert not schema.execute_sync("{ good { id name size colour tags shout __typename } }").errors
    assert sorted(NormalWay.slow) == ["__typename", "good", "shout", "tags"]


@pytest.mark.parametrize("query", ["{ good { id name nickname colour } }", "{ things { name size } }"])
def test_with_middleware_every_field_goes_the_normal_way(query: str) -> None:
    _same(query, [Resolving])
    NormalWay.slow = []
    strawberry.Schema(query=Query, execution_context_class=Counting, extensions=[Resolving]).execute_sync(query)
    assert "name" in NormalWay.slow
