"""A connection answered by one SQL statement that builds its JSON, on PostgreSQL.

The resolvers answer a library page with a statement per relation, and Python then makes and
completes every object of the answer: ~950 of them for 50 entries with 12 highlights each, most
of a request's time. When everything a connection's selection asks for has a SQL form
(`schema/sql_json_tables.py`), the page is one statement instead: the page query the resolver
would run (the same Tortoise queryset, filters and cursor), and around it PostgreSQL's
`json_build_object`/`json_agg` in the shape of the selection, keys in its order, aliases and
fragments, `@skip`/`@include` included. The executor takes the value as it is (`Answered`).
Used by `viewer.library` and `viewer.bookmarks`, the lists a frontend reads on every visit.

The rules that keep it the same answer as the resolvers':
- a field without a SQL form, a field argument, a directive other than `@skip`/`@include`, or an
  unknown type sends the whole connection to the resolvers, decided before anything runs;
- the viewer's own rows (bookmark flags) are found with the viewer's id, bound, like the loaders;
- if the statement fails (a value the resolvers would answer with an error, such as a NaN float),
  it is logged and the resolvers answer instead.

Off on SQLite (the embedded default), and with `SQL_JSON=false`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    BooleanValueNode,
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
)
from tortoise.queryset import QuerySet

from schema.sql_json_tables import TABLES, Leaf, Many, One, Same, iso

if TYPE_CHECKING:
    from schema.context import Info

log = logging.getLogger(__name__)
_INCLUDED_DIRECTIVES = frozenset({"skip", "include"})
MAX_PAIRS = 50  # json_build_object takes at most 100 arguments


# how one field of a selection reads: its name, its definition, the nodes that ask for it -> SQL
ValueOf = Callable[[str, GraphQLField, list[FieldNode]], str]


class Answered:
    """A field's value, complete already: the executor puts it in the answer as it is."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class NotCompiled(Exception):
    """Something in the selection has no SQL form; the resolvers answer."""


class Compiler:
    """SQL for the objects of one selection; `{viewer}` is the viewer's id, bound."""

    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: Any,
        viewer: str,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        # graphql-core's VariableValues, or their coerced dict as Strawberry passes them
        self.variables: dict[str, Any] = getattr(variables, "coerced", variables)
        self.viewer = viewer
        self.uses_viewer = False
        self._aliases = 0

    def alias(self) -> str:
        self._aliases += 1
        return f'"_t{self._aliases}"'

    # ------------------------------------------------------------ the selection

    def collect(self, type_: GraphQLObjectType, nodes: Iterable[FieldNode]) -> dict[str, list[FieldNode]]:
        """The fields of `type_` that `nodes`' selections ask for, by response key, in order."""
        grouped: dict[str, list[FieldNode]] = {}
        for node in nodes:
            if node.selection_set is None:
                raise NotCompiled(f"{type_.name} needs a selection")
            self._visit(type_, node.selection_set, grouped)
        return grouped

    def _visit(
        self, type_: GraphQLObjectType, selection_set: SelectionSetNode, grouped: dict[str, list[FieldNode]]
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):  # type: ignore[arg-type]
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._matches(condition.name.value, type_):
                    self._visit(type_, selection.selection_set, grouped)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    raise NotCompiled(f"no fragment {selection.name.value}")
                if self._matches(fragment.type_condition.name.value, type_):
                    self._visit(type_, fragment.selection_set, grouped)

    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        if not node.directives:
            return True
        if any(d.name.value not in _INCLUDED_DIRECTIVES for d in node.directives):
            raise NotCompiled("a directive other than @skip or @include")
        for directive in node.directives:
            condition = self._condition(directive)
            if condition is (directive.name.value == "skip"):
                return False
        return True

    def _condition(self, directive: DirectiveNode) -> bool:
        """The `if:` of a valid `@skip`/`@include`: a literal or a Boolean! variable."""
        argument = next((a for a in directive.arguments or () if a.name.value == "if"), None)
        value = argument.value if argument else None
        if isinstance(value, BooleanValueNode):
            return value.value
        if isinstance(value, VariableNode) and isinstance(self.variables.get(value.name.value), bool):
            return bool(self.variables[value.name.value])
        raise NotCompiled(f"@{directive.name.value} without a Boolean")

    def _matches(self, condition: str, type_: GraphQLObjectType) -> bool:
        found = self.schema.get_type(condition)
        if found is type_:
            return True
        return found is not None and is_abstract_type(found) and self.schema.is_sub_type(found, type_)  # type: ignore[arg-type]

    def _build(self, type_: GraphQLObjectType, nodes: list[FieldNode], value_of: ValueOf) -> str:
        """`json_build_object(...)` of the fields `nodes` ask of `type_`, each valued by `value_of`
        (which raises NotCompiled for a field it has no SQL for); `__typename` is the type's name,
        and a field asked with arguments has no SQL form."""
        pairs = []
        for key, field_nodes in self.collect(type_, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{type_.name}'"))
                continue
            field_def = type_.fields.get(name)
            if field_def is None or any(n.arguments for n in field_nodes):
                raise NotCompiled(f"{type_.name}.{name}")
            pairs.append((key, value_of(name, field_def, field_nodes)))
        return build_object(pairs)

    # ------------------------------------------------------------ objects

    def object(self, type_: GraphQLObjectType, nodes: list[FieldNode], alias: str) -> str:
        """The row `alias` as `type_` with the fields `nodes` ask for."""
        table = TABLES.get(type_.name)
        if table is None:
            raise NotCompiled(f"no SQL for {type_.name}")

        def value_of(name: str, field_def: GraphQLField, field_nodes: list[FieldNode]) -> str:
            spec = table.get(name)
            if spec is None:
                raise NotCompiled(f"{type_.name}.{name}")
            return self._field(spec, field_def.type, field_nodes, alias)

        return self._build(type_, nodes, value_of)

    def _field(self, spec: Leaf | One | Many | Same, field_type: Any, nodes: list[FieldNode], alias: str) -> str:
        if isinstance(spec, Leaf):
            if "{viewer}" in spec.sql:
                self.uses_viewer = True
            return spec.sql.format(t=alias, viewer=self.viewer)
        target = get_named_type(field_type)
        if not isinstance(target, GraphQLObjectType) or target.name != spec.type_name:
            raise NotCompiled(f"{target.name} is not {spec.type_name}")
        if isinstance(spec, Same):
            return self.object(target, nodes, alias)
        inner = self.alias()
        source = spec.source.format(t=alias, c=inner)
        built = self.object(target, nodes, inner)
        is_list = isinstance(get_nullable_type(field_type), GraphQLList)
        if isinstance(spec, One) and not is_list:
            return f"(SELECT {built} {source})"
        if isinstance(spec, Many) and is_list:
            order = spec.order.format(c=inner)
            return f"(SELECT coalesce(json_agg({built} ORDER BY {order}), '[]'::json) {source})"
        raise NotCompiled(f"{spec.type_name}: list or not")

    # ------------------------------------------------------------ connections

    def connection(self, type_: GraphQLObjectType, nodes: list[FieldNode], *, first: int, after: bool) -> str:
        """A connection over the statement's "rows" (the page, numbered by `_n` in order, and
        one more row when there is a next page), in the shape of `schema/nodes.py`'s Connection."""
        page = _PAGE.format(first=first)

        def value_of(name: str, field_def: GraphQLField, field_nodes: list[FieldNode]) -> str:
            target = _object_type(field_def)
            if name == "pageInfo":
                return self._page_info(target, field_nodes, first=first, after=after)
            if name not in ("edges", "nodes"):
                raise NotCompiled(f"{type_.name}.{name}")
            item = self._edge(target, field_nodes) if name == "edges" else self.object(target, field_nodes, "e")
            return f"(SELECT coalesce(json_agg({item} ORDER BY e.\"_n\"), '[]'::json) {page})"

        return self._build(type_, nodes, value_of)

    def _edge(self, type_: GraphQLObjectType, nodes: list[FieldNode]) -> str:
        def value_of(name: str, field_def: GraphQLField, field_nodes: list[FieldNode]) -> str:
            if name == "cursor":
                return _CURSOR
            if name == "node":
                return self.object(_object_type(field_def), field_nodes, "e")
            raise NotCompiled(f"{type_.name}.{name}")

        return self._build(type_, nodes, value_of)

    def _page_info(self, type_: GraphQLObjectType, nodes: list[FieldNode], *, first: int, after: bool) -> str:
        values = {
            "hasNextPage": f'((SELECT count(*) FROM "rows") > {first})',  # noqa: S608 (`first`: an int)
            "hasPreviousPage": "true" if after else "false",
            "startCursor": f'(SELECT {_CURSOR} FROM "rows" e WHERE e."_n" = 1 AND e."_n" <= {first})',  # noqa: S608
            "endCursor": f'(SELECT {_CURSOR} {_PAGE.format(first=first)} ORDER BY e."_n" DESC LIMIT 1)',
        }

        def value_of(name: str, _field_def: GraphQLField, _field_nodes: list[FieldNode]) -> str:
            if name not in values:
                raise NotCompiled(f"{type_.name}.{name}")
            return values[name]

        return self._build(type_, nodes, value_of)


def _object_type(field_def: GraphQLField) -> GraphQLObjectType:
    target = get_named_type(field_def.type)
    if not isinstance(target, GraphQLObjectType):
        raise NotCompiled(f"{target.name} is not an object type")
    return target


def build_object(pairs: list[tuple[str, str]]) -> str:
    # response keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*): safe between quotes
    if len(pairs) > MAX_PAIRS:
        raise NotCompiled("too many fields for one json_build_object")
    return "json_build_object(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"


_ROWS = '"rows" AS (SELECT p.*, row_number() OVER (ORDER BY p."created_at" DESC, p."id" DESC) AS "_n" FROM "page" p)'
_PAGE = 'FROM "rows" e WHERE e."_n" <= {first}'
# `resolvers.pagination.encode_cursor([created_at, id])`: urlsafe base64 of the JSON list
_CURSOR_JSON = "'[\"' || " + iso('e."created_at"') + " || '\", \"' || e.\"id\"::text || '\"]'"
_CURSOR = f"translate(encode(convert_to({_CURSOR_JSON}, 'UTF8'), 'base64'), E'+/\\n', '-_')"


def page_sql(queryset: QuerySet[Any]) -> tuple[str, list[Any]]:
    """The statement and values Tortoise would run for `queryset`: what `QuerySet.sql()` does, with
    the values kept (Tortoise internals; the tests on PostgreSQL run every page through here)."""
    queryset._choose_db_if_not_chosen()
    queryset._make_query()
    sql, params = queryset.query.get_parameterized_sql()
    return sql, list(params)


def enabled(info: Info) -> bool:
    from services.search import Dialect

    return bool(info.context.services.settings.sql_json) and Dialect().postgres


async def connection(info: Info, page: QuerySet[Any] | None, *, first: int, after: str | None) -> Answered | None:
    """The connection `info`'s selection asks for over the page `page` (newest first by
    `created_at`, then id, `first` + 1 rows), from one statement; None when the resolvers answer
    (and when there is no page to read: someone else's list)."""
    from services.search import Dialect

    raw = info._raw_info
    viewer_id = info.context.viewer_id
    if viewer_id is None or page is None:
        return None
    sql, params = page_sql(page)
    compiler = Compiler(raw.schema, raw.fragments, raw.variable_values, viewer=f"${len(params) + 1}::uuid")
    return_type = get_named_type(raw.return_type)
    if not isinstance(return_type, GraphQLObjectType):
        return None
    try:
        built = compiler.connection(return_type, raw.field_nodes, first=first, after=after is not None)
    except NotCompiled as why:
        log.debug("sql_json: %s answered by the resolvers: %s", raw.field_name, why)
        return None
    if compiler.uses_viewer:
        params.append(viewer_id)
    # values travel bound; the rest is Tortoise's text and the compiler's own
    statement = f'WITH "page" AS ({sql}), {_ROWS} SELECT {built}'
    db = Dialect()
    try:
        _, records = await db.conn.execute_query(statement, params)
    except Exception:
        log.warning("sql_json: the statement for %s failed; the resolvers answer", raw.field_name, exc_info=True)
        return None
    return Answered(orjson.loads(records[0][0]))
