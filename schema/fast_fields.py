"""A shorter way through graphql-core for plain leaf fields.

Most fields of a large answer are an attribute of a Strawberry object read as it is: a title, a
start, a status. graphql-core treats each one like any field: a `ResolveInfo`, the resolver, then
`complete_value` through the non-null, list, leaf and object checks. For the library page that is
tens of thousands of calls, more time than the SQL (issue 4). Here such a field's value is read and
coerced directly, as `complete_leaf_value` would; anything unusual (a null for a non-null field, a
coercion that fails, an awaitable, an error) goes the normal way, so errors, their paths and the
answer stay exactly as graphql-core makes them.

A field is plain when Strawberry resolves it without a resolver of ours (`_get_basic_result`, which
takes no info), it has no arguments, no middleware wraps resolvers, and its type is a scalar or enum,
non-null or not, never a list. A Relay `id` is plain too when its object keeps Strawberry's own
`resolve_id` and `resolve_typename`: its value is then the global id of the type and the id field.
"""

from __future__ import annotations

import operator
from binascii import b2a_base64
from collections.abc import Awaitable, Callable
from typing import Any, cast
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path
from strawberry.relay import Node
from strawberry.relay.utils import to_base64
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# a field's value from its parent object and the parent type, or SLOW for the normal way
Reader = Callable[[Any, GraphQLObjectType], Any]
SLOW: Any = object()
_NODE_ID = Node._id.__func__  # type: ignore[attr-defined]
_NODE_RESOLVE_ID = Node.resolve_id.__func__  # type: ignore[attr-defined]
_NODE_RESOLVE_TYPENAME = Node.resolve_typename.__func__  # type: ignore[attr-defined]


class FastLeafFields(StrawberryGraphQLCoreExecutionContext):
    """An execution context that completes plain leaf fields without graphql-core's general path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        self._fast = middleware is None or not middleware.middlewares
        # how each field of each type is read: decided once per process, not per operation
        self._readers = _readers_for(self.is_awaitable)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """The plain fields read here, the others executed by graphql-core; the answer keeps the
        order of the selection. No `Path` is made for a plain field (nothing would read it), and
        reading one before its siblings run changes nothing: reading an attribute has no effects."""
        if not self._fast:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        readers = self._readers.get(parent_type) or self._readers.setdefault(parent_type, {})
        plain: dict[str, Any] = {}
        others: GroupedFieldSet = {}
        for response_name, field_details_list in grouped_field_set.items():
            name = field_details_list[0].node.name.value
            reader = readers[name] if name in readers else self._decide(parent_type, readers, name)
            value = reader(source_value, parent_type) if reader is not None else SLOW
            if value is SLOW:
                others[response_name] = field_details_list
            else:
                plain[response_name] = value
        if not others:
            return plain
        executed = super().execute_fields(parent_type, source_value, path, others, position_context)
        if not plain:
            return executed
        if self.is_awaitable(executed):
            return _merged_later(grouped_field_set, plain, cast("Awaitable[dict[str, Any]]", executed))
        return _merged(grouped_field_set, plain, cast("dict[str, Any]", executed))

    def _decide(self, parent_type: GraphQLObjectType, readers: dict[str, Reader | None], name: str) -> Reader | None:
        """Whether the field is plain, decided once per type and field for this operation."""
        field = parent_type.fields.get(name)
        reader = readers[name] = plain_leaf_reader(field, self.is_awaitable) if field else None
        return reader


# per predicate for awaitables (the same one for every executor of a schema), per object type
# (weakly: a schema built and dropped, as tests do, takes its readers with it)
_shared_readers: dict[Callable[[Any], bool], WeakKeyDictionary[GraphQLObjectType, dict[str, Reader | None]]] = {}


def _readers_for(is_awaitable: Callable[[Any], bool]) -> WeakKeyDictionary[GraphQLObjectType, dict[str, Reader | None]]:
    readers = _shared_readers.get(is_awaitable)
    if readers is None:
        if len(_shared_readers) >= 8:  # a caller making a predicate per operation: keep none for long
            _shared_readers.clear()
        readers = _shared_readers[is_awaitable] = WeakKeyDictionary()
    return readers


def _merged(grouped_field_set: GroupedFieldSet, plain: dict[str, Any], executed: dict[str, Any]) -> dict[str, Any]:
    """Both parts in the order of the selection; graphql-core leaves out fields it does not know."""
    return {
        name: plain[name] if name in plain else executed[name]
        for name in grouped_field_set
        if name in plain or name in executed
    }


async def _merged_later(
    grouped_field_set: GroupedFieldSet, plain: dict[str, Any], executed: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    return _merged(grouped_field_set, plain, await executed)


def plain_leaf_reader(field: GraphQLField, is_awaitable: Callable[[Any], bool]) -> Reader | None:
    """How to read `field` directly, or None when it must go the normal way."""
    if field.args:
        return None
    non_null = isinstance(field.type, GraphQLNonNull)
    leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(leaf):
        return None
    strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if strawberry_field is None or strawberry_field.extensions:
        return None
    if _is_basic(field):
        return _attribute_reader(field, strawberry_field, leaf, non_null=non_null, is_awaitable=is_awaitable)
    resolver = strawberry_field.base_resolver
    if resolver is not None and getattr(resolver.wrapped_func, "__func__", None) is _NODE_ID:
        return _node_id_reader(leaf)
    return None


def _is_basic(field: GraphQLField) -> bool:
    """Strawberry's resolve function for a field without a resolver or extensions: it reads the
    attribute and ignores the info. (`_is_default` alone also marks resolvers that need info.)"""
    resolve = field.resolve
    return resolve is not None and getattr(resolve, "_is_default", False) and resolve.__name__ == "_get_basic_result"


def _attribute_reader(
    field: GraphQLField,
    strawberry_field: StrawberryField,
    leaf: GraphQLLeafType,
    *,
    non_null: bool,
    is_awaitable: Callable[[Any], bool],
) -> Reader:
    value_of = _value_of(field, strawberry_field)
    coerce = leaf.coerce_output_value

    def read(source: Any, _parent_type: GraphQLObjectType) -> Any:
        try:
            value = value_of(source)
        except Exception:  # the normal way raises it again, located
            return SLOW
        if value is None:
            return SLOW if non_null else None
        if value is Undefined or isinstance(value, Exception) or is_awaitable(value):
            return SLOW
        return _coerced(coerce, value)

    exact = _ITS_OWN_OUTPUT.get(leaf)
    if exact is None:
        return read

    def read_exact(source: Any, parent_type: GraphQLObjectType) -> Any:
        """A built-in scalar whose value is of the one Python type it gives back unchanged (a str
        for String and ID, a bool, a finite float, a 32-bit int); anything else as `read` does."""
        try:
            value = value_of(source)
        except Exception:  # the normal way raises it again, located
            return SLOW
        cls = value.__class__
        if cls is exact and (
            cls is str or cls is bool or (cls is float and value - value == 0.0) or (cls is int and _is_int32(value))
        ):
            return value
        return read(source, parent_type)

    return read_exact


# graphql-core's built-in scalars and the Python type each serializes to itself
_ITS_OWN_OUTPUT: dict[GraphQLLeafType, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
    GraphQLFloat: float,
    GraphQLInt: int,
}


def _is_int32(value: int) -> bool:
    return -(2**31) <= value < 2**31


def is_basic_field(field: GraphQLField) -> bool:
    """A field Strawberry resolves by reading the parent's attribute, with no resolver of ours and
    no extensions, whatever its type."""
    strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return strawberry_field is not None and not strawberry_field.extensions and _is_basic(field)


def value_of_field(field: GraphQLField) -> Callable[[Any], Any]:
    """How a basic field's value is read from its parent (see `is_basic_field`)."""
    return _value_of(field, field.extensions[GraphQLCoreConverter.DEFINITION_BACKREF])


def _value_of(field: GraphQLField, strawberry_field: StrawberryField) -> Callable[[Any], Any]:
    """The field's value from its parent: what Strawberry's `_get_basic_result` comes down to,
    `default_resolver(source, python_name)`, called at once (an attrgetter for the default
    `getattr`), unless a subclass of StrawberryField gets its results its own way."""
    if type(strawberry_field).get_result is not StrawberryField.get_result:
        resolve = field.resolve
        assert resolve is not None
        return lambda source: resolve(source, None)
    default_resolver, python_name = strawberry_field.default_resolver, strawberry_field.python_name
    if default_resolver is getattr:
        return operator.attrgetter(python_name)
    return lambda source: default_resolver(source, python_name)


def _node_id_reader(leaf: GraphQLLeafType) -> Reader:
    """The global id as its text, as `str(GlobalID(...))` writes it, without making the GlobalID
    the ID scalar would only turn into that text."""
    coerce = leaf.coerce_output_value
    id_attributes: dict[type, str | None] = {}  # by the class of the source

    def read(source: Any, parent_type: GraphQLObjectType) -> Any:
        cls = type(source)
        attribute = id_attributes[cls] if cls in id_attributes else id_attributes.setdefault(cls, _id_attribute(cls))
        try:
            node_id = getattr(source, attribute) if attribute is not None else None
        except Exception:  # the normal way raises it again, located
            return SLOW
        if node_id.__class__ is str and leaf is GraphQLID:  # base64 text: the ID scalar keeps it as it is
            return b2a_base64(f"{parent_type.name}:{node_id}".encode(), newline=False).decode("ascii")
        if node_id is None or not isinstance(node_id, str | int):
            return SLOW
        return _coerced(coerce, to_base64(parent_type.name, str(node_id)))

    return read


def _id_attribute(cls: type) -> str | None:
    """The attribute holding a node's id, when Node's own `_id` would read it as it is: the class
    keeps Strawberry's `resolve_id` and `resolve_typename`."""
    if not (
        issubclass(cls, Node)
        and getattr(cls.resolve_id, "__func__", None) is _NODE_RESOLVE_ID
        and getattr(cls.resolve_typename, "__func__", None) is _NODE_RESOLVE_TYPENAME
    ):
        return None
    try:
        return cls.resolve_id_attr()
    except Exception:  # no NodeID field: the normal way fails as it would
        return None


def _coerced(coerce: Callable[[Any], Any], value: Any) -> Any:
    """`complete_leaf_value`'s coercion, or SLOW where it would raise."""
    try:
        coerced = coerce(value)
    except Exception:  # the normal way raises it again, located
        return SLOW
    return SLOW if coerced is None or coerced is Undefined else coerced
