"""One execution of a subscription event for everyone who watches it the same way.

A thousand people following one analysis receive the same event a thousand times. Executing the
subscription's selection for each of them costs graphql-core a walk of the selection and a
completion of every field, over and over, for identical output. This executor keeps the result of
an event it has executed and hands it to the next subscriber whose request is the same document
with the same variables.

It shares only what cannot differ between people:
- the event says it may be shared: its root value carries a ``share_key`` (an analysis's stored
  event, which never changes once numbered); the per-subscriber first event does not;
- every field the selection reaches is a plain attribute of the event (no resolver, so nothing
  reads the viewer, the database or the clock) — ``analysis { … }`` on an event, for example,
  keeps the per-subscriber execution;
- the result has no errors and was computed synchronously.

The kept results are few (the newest ``MAX_KEPT``) and each holds the schema and document it was
made for, so a key can never be mistaken for another request's.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema import fanout
from schema.batched import BatchedQueries

MAX_KEPT = 256

_Key = tuple[Any, int, int, str]
_kept: OrderedDict[_Key, tuple[GraphQLSchema, OperationDefinitionNode, ExecutionResult]] = OrderedDict()
_pure: dict[int, tuple[OperationDefinitionNode, bool]] = {}
_ALLOWED_DIRECTIVES = frozenset({"skip", "include"})


class SharedEventExecutor(BatchedQueries):
    def build_per_event_executor(self, payload: Any) -> Any:
        # a result kept for this event: no per-event executor at all (copying one, and the cycles
        # graphql-core's executors make, cost more than handing the result over)
        key = self._share_key(payload)
        if key is not None:
            kept = _kept.get(key)
            if kept is not None and kept[0] is self.schema and kept[1] is self.operation:
                return _Kept(kept[2])
        return super().build_per_event_executor(payload)

    def build_resolve_info(self, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
        if path.prev is None and parent_type is self.schema.subscription_type:
            # resolving the subscription's source stream: the WebSocket lane executes its events with us
            fanout.note_executor(self)
        return super().build_resolve_info(field_def, field_nodes, parent_type, path)

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._share_key(self.root_value)
        result = super().execute_operation(serially)
        if key is not None and isinstance(result, ExecutionResult) and not result.errors:
            _kept[key] = (self.schema, self.operation, result)
            while len(_kept) > MAX_KEPT:
                _kept.popitem(last=False)
        return result

    def _share_key(self, root: Any) -> _Key | None:
        share_key = getattr(root, "share_key", None)
        if share_key is None or not self.selection_is_pure():
            return None
        return (share_key, id(self.schema), id(self.operation), repr(sorted(self.variable_values.coerced.items())))

    def selection_is_pure(self) -> bool:
        known = _pure.get(id(self.operation))
        if known is not None and known[0] is self.operation:
            return known[1]
        pure = self._root_is_pure()
        if len(_pure) >= MAX_KEPT:
            _pure.clear()
        _pure[id(self.operation)] = (self.operation, pure)
        return pure

    def _root_is_pure(self) -> bool:
        root = self.schema.subscription_type
        if self.operation.operation.value != "subscription" or root is None:
            return False
        for field in self._fields_of(self.operation.selection_set):
            if not isinstance(field, FieldNode):
                return False
            definition = root.fields.get(field.name.value)
            if definition is None or field.selection_set is None:
                return False
            if not _directives_allowed(field):
                return False
            event_type = get_named_type(definition.type)
            if not isinstance(event_type, GraphQLObjectType):
                return False
            if not self._is_pure(field.selection_set, event_type):
                return False
        return True

    def _is_pure(self, selection_set: SelectionSetNode, parent: GraphQLObjectType) -> bool:
        for field in self._fields_of(selection_set):
            if not isinstance(field, FieldNode) or not _directives_allowed(field):
                return False
            name = field.name.value
            if name == "__typename":
                continue
            definition = parent.fields.get(name)
            if definition is None or definition.args:
                return False
            strawberry_field = (definition.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if strawberry_field is None or getattr(strawberry_field, "base_resolver", None) is not None:
                return False
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                continue
            if not isinstance(named, GraphQLObjectType) or field.selection_set is None:
                return False
            if not self._is_pure(field.selection_set, named):
                return False
        return True

    def _fields_of(self, selection_set: SelectionSetNode) -> list[FieldNode | None]:
        """The fields of a selection with its fragments spread in; an unknown kind of selection or
        directive makes the list end in a non-field, which no caller accepts as pure."""
        fields: list[FieldNode | None] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields.append(selection)
            elif isinstance(selection, InlineFragmentNode) and _directives_allowed(selection):
                fields.extend(self._fields_of(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode) and _directives_allowed(selection):
                fragment = self.fragment_definitions.get(selection.name.value)
                if fragment is None:
                    return [None]
                fields.extend(self._fields_of(fragment.selection_set))
            else:
                return [None]
        return fields


class _Kept:
    """Stands in for a per-event executor: its execution is the kept result."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


def _directives_allowed(node: Any) -> bool:
    return all(directive.name.value in _ALLOWED_DIRECTIVES for directive in node.directives or ())
