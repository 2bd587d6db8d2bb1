"""Queries run a selection set at a time (schema/batched.py) answer exactly as graphql-core's own executor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import ExecutionResult

from schema.batched import BatchedQueries
from schema.related import Related


def _owner_of(parent: Parent, owner: Owner) -> Owner:
    if parent.grumpy:
        raise ValueError(f"no owner for parent {parent.id}")
    return owner


OWNER = Related("owners", "owner_id", _owner_of)
CITY = Related("cities", "city_id", lambda _owner, city: city)


@strawberry.interface
class Pet:
    name: str


@strawberry.type
class Dog(Pet):
    barks: bool


@strawberry.type
class Cat(Pet):
    lives: int


@strawberry.type
class City:
    id: int
    name: str


@strawberry.type
class Owner:
    id: int
    name: str
    city_id: strawberry.Private[int | None]

    @strawberry.field(metadata=CITY.metadata)
    async def city(self, info: strawberry.Info) -> City | None:
        return await CITY.one(self, info)  # type: ignore[no-any-return]


@strawberry.type
class Leaf:
    """Leaf n is 10 * its parent's id + its position; the failing fields fail for chosen n only."""

    n: int
    label: str | None

    @strawberry.field
    def fragile(self) -> int | None:
        if self.n % 10 == 1:
            raise ValueError(f"fragile {self.n}")
        return self.n

    @strawberry.field
    async def fragile_later(self) -> int | None:
        await asyncio.sleep(0.01)  # fails well after `strict` has
        if self.n // 10 == 1:
            raise ValueError(f"fragile later {self.n}")
        return self.n

    @strawberry.field
    def strict(self) -> int:
        return _strict(self.n)

    @strawberry.field
    async def strict_later(self) -> int:
        return _strict(self.n)

    @strawberry.field
    def missing(self) -> int:
        return None if self.n == 12 else self.n  # type: ignore[return-value]

    @strawberry.field
    async def later(self) -> str:
        return f"later {self.n}"


def _strict(n: int) -> int:
    if n in (11, 12):
        raise ValueError(f"strict {n}")
    return n


def _leaves(parent_id: int, count: int = 3) -> list[Leaf]:
    return [Leaf(n=10 * parent_id + j, label=None if j == 1 else f"leaf {j}") for j in range(count)]


def _pet(parent_id: int) -> Dog | Cat:
    return Dog(name=f"rex {parent_id}", barks=True) if parent_id % 2 else Cat(name=f"tom {parent_id}", lives=9)


@strawberry.type
class Parent:
    id: int
    owner_id: strawberry.Private[int | None]
    grumpy: strawberry.Private[bool]

    @strawberry.field
    def leaves(self) -> list[Leaf]:
        return _leaves(self.id)

    @strawberry.field
    async def maybe_leaves(self) -> list[Leaf] | None:
        return _leaves(self.id)

    @strawberry.field
    def grid(self) -> list[list[Leaf | None]]:
        first, second, third = _leaves(self.id)
        return [[first, None], [second, third]]

    @strawberry.field
    def pet(self) -> Pet:
        return _pet(self.id)

    @strawberry.field
    async def either(self) -> Annotated[Dog | Cat, strawberry.union("DogOrCat")]:
        return _pet(self.id)

    @strawberry.field
    def wrong(self) -> Dog | None:
        return Leaf(n=0, label=None) if self.id == 1 else Dog(name="fido", barks=False)  # type: ignore[return-value]

    @strawberry.field(metadata=OWNER.metadata)
    async def owner(self, info: strawberry.Info) -> Owner | None:
        return await OWNER.one(self, info)  # type: ignore[no-any-return]


def _parents(count: int, grumpy: int | None = None) -> list[Parent]:
    """Owner ids repeat (id % 7); every fifth parent, from id 3 on, has none."""
    return [Parent(id=i, owner_id=None if i % 5 == 3 else i % 7, grumpy=i == grumpy) for i in range(count)]


@strawberry.type
class Shelf:
    """Objects held as plain attributes (no resolver), some of them wrong for their type."""

    first: Leaf
    maybe: Leaf | None
    row: list[Leaf]
    holes: list[Leaf | None]
    absent: Leaf  # holds None
    stranger: Leaf  # holds a Cat


def _shelf() -> Shelf:
    return Shelf(
        first=Leaf(n=1, label="a"), maybe=None, row=_leaves(3), holes=[Leaf(n=7, label=None), None],
        absent=None, stranger=Cat(name="Tom", lives=9),  # type: ignore[arg-type]
    )


@strawberry.type
class Query:
    @strawberry.field
    def parents(self, count: int = 4, grumpy: int | None = None) -> list[Parent]:
        return _parents(count, grumpy)

    @strawberry.field
    def shelves(self) -> list[Shelf | None]:
        return [_shelf(), _shelf()]

    @strawberry.field
    async def must(self) -> int:
        raise ValueError("must fails")


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def touch(self, count: int) -> list[Parent]:
        return _parents(count)


ORDINARY = strawberry.Schema(query=Query, mutation=Mutation)
BATCHED = strawberry.Schema(query=Query, mutation=Mutation, execution_context_class=BatchedQueries)


class _Loader(DataLoader[int, Any]):
    """Keeps the keys of each batch, and counts the keys asked for one by one (`load`)."""

    def __init__(self, make: Callable[[int], Any], *, failing: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.one_by_one = 0

        async def load(keys: list[int]) -> list[Any]:
            self.batches.append(keys)
            if failing:
                raise RuntimeError("owners are down")
            return [make(key) for key in keys]

        super().__init__(load)

    def load(self, key: int) -> Awaitable[Any]:
        self.one_by_one += 1
        return super().load(key)


def _context(*, failing: bool = False) -> SimpleNamespace:
    """Fresh loaders for one operation, as `context.loaders`."""
    owners = _Loader(lambda k: Owner(id=k, name=f"owner {k}", city_id=None if k == 0 else k % 3), failing=failing)
    cities = _Loader(lambda k: City(id=k, name=f"city {k}"))
    return SimpleNamespace(loaders=SimpleNamespace(owners=owners, cities=cities))


def _outcome(result: ExecutionResult) -> tuple[str, list[tuple[str, list[Any]]]]:
    """The data as JSON text (the order of keys counts) and the errors with their paths, sorted."""
    errors = [(e.message, list(e.path or [])) for e in result.errors or []]
    return json.dumps(result.data), sorted(errors, key=_error_key)


def _error_key(error: tuple[str, list[Any]]) -> tuple[str, str]:
    return error[0], json.dumps(error[1])


async def _same(
    query: str, variables: dict[str, Any] | None = None, *, failing: bool = False
) -> tuple[Any, list[tuple[str, list[Any]]], SimpleNamespace]:
    """Runs the query on both executors and asserts the same answer; returns it and the batched run's context."""
    ordinary_context, batched_context = _context(failing=failing), _context(failing=failing)
    ordinary = _outcome(await ORDINARY.execute(query, variable_values=variables, context_value=ordinary_context))
    batched = _outcome(await BATCHED.execute(query, variable_values=variables, context_value=batched_context))
    assert batched == ordinary
    return json.loads(batched[0]), batched[1], batched_context


DEEP = """
query Deep($count: Int!, $withPet: Boolean!, $skipGrid: Boolean!) {
  __typename
  first: parents(count: $count) {
    __typename
    ...ParentBits
    grid @skip(if: $skipGrid) { n label later }
    pet @include(if: $withPet) { __typename name ... on Dog { barks } ... on Cat { lives } }
    either { ... on Cat { lives name } ... on Dog { __typename dogName: name } }
  }
  second: parents(count: 2) { theId: id leaves { later n } }
}
fragment ParentBits on Parent { id leaves { n label twice: n } owner { name city { name } } }
"""


@pytest.mark.parametrize(("with_pet", "skip_grid"), [(True, False), (False, True)])
async def test_a_deep_query_with_fragments_and_directives_answers_alike(with_pet: bool, skip_grid: bool) -> None:
    """Aliases, fragments, abstract types, lists of lists and `@skip`/`@include` by variables: the same answer."""
    data, errors, _ = await _same(DEEP, {"count": 5, "withPet": with_pet, "skipGrid": skip_grid})
    assert errors == []
    first = data["first"][1]
    assert list(first) == ["__typename", "id", "leaves", "owner", *(() if skip_grid else ("grid",)),
                           *(("pet",) if with_pet else ()), "either"]
    assert first["leaves"][0] == {"n": 10, "label": "leaf 0", "twice": 10}
    assert first["owner"] == {"name": "owner 1", "city": {"name": "city 1"}}
    assert data["first"][3]["owner"] is None
    assert data["first"][2]["either"] == {"lives": 9, "name": "tom 2"}
    if with_pet:
        assert first["pet"] == {"__typename": "Dog", "name": "rex 1", "barks": True}
    if not skip_grid:
        assert first["grid"][0][1] is None and first["grid"][1][1]["later"] == "later 12"
    assert data["second"][1] == {"theId": 1, "leaves": [{"later": f"later {n}", "n": n} for n in (10, 11, 12)]}


async def test_a_nullable_field_failing_deep_in_lists_is_null_there_alone() -> None:
    """`fragile` raising in a list of lists: null there, one error at that path, its siblings intact."""
    data, errors, _ = await _same("{ parents { id grid { n fragile label } } }")
    assert errors == [(f"fragile {10 * p + 1}", ["parents", p, "grid", 1, 0, "fragile"]) for p in range(4)]
    assert data["parents"][2]["grid"][1] == [{"n": 21, "fragile": None, "label": None},
                                             {"n": 22, "fragile": 22, "label": "leaf 2"}]


@pytest.mark.parametrize(
    ("selection", "strict"),
    [("n fragileLater strict", "strict"), ("n fragileLater strictLater", "strictLater"), ("missing strict", "strict")],
)
async def test_a_non_null_field_failing_nulls_the_nearest_nullable_list(selection: str, strict: str) -> None:
    """Parent 1's leaves fail (`strict` at 11 and 12, `missing` at 12, `fragileLater` at all three, later):
    its `maybeLeaves` is null, with the one error graphql-core reports first and none from below it."""
    data, errors, _ = await _same(f"{{ parents {{ id maybeLeaves {{ {selection} }} }} }}")
    assert errors == [("strict 11", ["parents", 1, "maybeLeaves", 1, strict])]
    assert data["parents"][1] == {"id": 1, "maybeLeaves": None}
    assert data["parents"][2]["maybeLeaves"][2][strict] == 22


async def test_a_non_null_root_field_failing_leaves_no_data() -> None:
    """`must` raising: no data at all, its error with the others."""
    data, errors, _ = await _same("{ parents(count: 2) { id grid { fragile } } must }")
    assert data is None
    assert errors == [
        ("fragile 1", ["parents", 0, "grid", 1, 0, "fragile"]),  # graphql-core keeps those found before `must` failed
        ("fragile 11", ["parents", 1, "grid", 1, 0, "fragile"]),
        ("must fails", ["must"]),
    ]


async def test_null_for_a_non_null_field_and_an_object_of_the_wrong_type_are_the_same_errors() -> None:
    """A None for `Leaf.missing` nulls the list around it; a Leaf where a Dog belongs nulls `wrong`."""
    data, errors, _ = await _same("{ parents(count: 3) { id maybeLeaves { n missing } wrong { name } } }")
    assert errors == [
        ("Cannot return null for non-nullable field Leaf.missing.", ["parents", 1, "maybeLeaves", 2, "missing"]),
        ("Expected value of type 'Dog' but got: <Leaf instance>.", ["parents", 1, "wrong"]),
    ]
    assert data["parents"][1] == {"id": 1, "maybeLeaves": None, "wrong": None}
    assert data["parents"][0]["wrong"] == {"name": "fido"}


RELATED = "query R($grumpy: Int) { parents(count: 30, grumpy: $grumpy) { id owner { id city { name } } } }"


async def test_a_relation_loads_once_per_level_for_all_parents() -> None:
    """30 parents, 7 owners, 3 cities: one batch for the owners and one for their cities; no owner id, no owner."""
    data, errors, context = await _same(RELATED)
    owners, cities = context.loaders.owners, context.loaders.cities
    assert errors == []
    assert len(owners.batches) == 1 and sorted(owners.batches[0]) == list(range(7))
    assert len(cities.batches) == 1 and sorted(cities.batches[0]) == [0, 1, 2]
    assert owners.one_by_one == 0 and cities.one_by_one == 0  # the level's keys at once, not a load per parent
    assert data["parents"][3] == {"id": 3, "owner": None}  # no owner id
    assert data["parents"][9] == {"id": 9, "owner": {"id": 2, "city": {"name": "city 2"}}}
    assert data["parents"][7]["owner"] == {"id": 0, "city": None}


async def test_a_relation_convert_failing_errors_that_parent_alone() -> None:
    """`convert` raising for parent 4: its owner is null with an error there, the others load in the same batch."""
    data, errors, context = await _same(RELATED, {"grumpy": 4})
    assert errors == [("no owner for parent 4", ["parents", 4, "owner"])]
    assert data["parents"][4] == {"id": 4, "owner": None}
    assert data["parents"][5]["owner"] == {"id": 5, "city": {"name": "city 2"}}
    assert len(context.loaders.owners.batches) == 1


async def test_a_relation_loader_failing_errors_every_parent_at_its_own_path() -> None:
    """The batch raising: every parent with an owner id has the error at its own `owner`; those without, none."""
    data, errors, context = await _same(RELATED, failing=True)
    with_owner = [p for p in range(30) if p % 5 != 3]
    assert errors == sorted((("owners are down", ["parents", p, "owner"]) for p in with_owner), key=_error_key)
    assert all(parent["owner"] is None for parent in data["parents"])
    assert len(context.loaders.owners.batches) == 1 and context.loaders.cities.batches == []


async def test_a_mutation_answers_alike() -> None:
    """Mutations keep graphql-core's walk: the same answer, relations loaded by each parent's own resolver."""
    data, errors, context = await _same(
        "mutation T($count: Int!) { touch(count: $count) { id kind: __typename leaves { later n } owner { name } } }",
        {"count": 4},
    )
    assert errors == []
    assert data["touch"][1] == {
        "id": 1, "kind": "Parent", "leaves": [{"later": f"later {n}", "n": n} for n in (10, 11, 12)],
        "owner": {"name": "owner 1"},
    }
    assert context.loaders.owners.one_by_one == 3  # each parent's own resolver (parent 3 has no owner id)


async def test_fields_keep_the_order_of_the_selection_among_async_ones() -> None:
    """Sync, async, relation and `__typename` fields interleaved: the keys come in the order asked."""
    order = ["either", "id", "again", "pet", "owner", "maybeLeaves", "leaves", "typename", "later"]
    data, errors, _ = await _same(
        "{ parents(count: 3) { either { __typename } id again: id pet { name } owner { name }"
        " maybeLeaves { later n } leaves { n later label } typename: __typename later: id } }"
    )
    assert errors == []
    assert [list(parent) for parent in data["parents"]] == [order] * 3
    assert list(data["parents"][0]["leaves"][0]) == ["n", "later", "label"]


@pytest.mark.parametrize(
    "selection",
    ["first { n } maybe { n } row { n later } holes { n label }", "first { n } absent { n }", "stranger { n }"],
)
async def test_objects_held_as_plain_attributes_answer_alike(selection: str) -> None:
    """Objects read from the parent as they are (an edge's node): the same values, and the same errors for a null
    in a non-null field or an object of the wrong type, which null the shelf."""
    data, errors, _ = await _same(f"{{ shelves {{ {selection} }} }}")
    if "absent" in selection or "stranger" in selection:
        assert data == {"shelves": [None, None]} and len(errors) == 2
    else:
        assert errors == []
        assert data["shelves"][0]["row"][2] == {"n": 32, "later": "later 32"}
        assert data["shelves"][1]["holes"] == [{"n": 7, "label": None}, None]
