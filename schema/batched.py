"""Queries executed a selection set at a time across every object that reaches it.

graphql-core completes an answer object by object: for each of the 50 entries of a library page
it executes the entry's fields, gathers the entry's awaitables in a coroutine of their own, and
goes down into its video and analysis the same way, so a page of ~950 objects costs ~950 rounds of
`execute_fields`, ~300 nested gathers and a task for each. Here the objects that share a
selection set (the 50 entries, then their 50 videos, then the 600 highlights…) are one group:

- each field of the group is taken for every object in turn, a plain leaf read at once
  (`FastLeafFields`' readers), anything else through graphql-core's own `execute_field`, which
  resolves, completes lists, leaves and non-null checks, and locates errors as it always does;
- an object that a field completes to is not executed there but joins the group of its type and
  selection, with an empty dict that stands in the answer already and is filled when its group runs;
- the groups that need no waiting run first; then everything awaited by every group so far is
  awaited together, once, so each DataLoader still sees all its keys of that level in one batch.

Only the order of the work changes: every field is resolved and completed by graphql-core with
the same arguments, path and info, and the answer keeps the order of the selection. An error in a
non-null field nulls the nearest nullable position above it, found from the types and the path as
graphql-core's unwinding would, and is recorded there; errors below a nulled position are dropped
(`CollectedErrors.add`) and the objects below it are not executed further.

Used for queries only, and only when nothing needs graphql-core's own walk: no middleware, no abort
signal, no `@defer`/`@stream`. Mutations (serial), subscriptions and the rest keep graphql-core's
executor, with the plain-field shortcut of `FastLeafFields`.

Here: the walk of the groups. `schema/batched_state.py`: the groups, joining them and errors;
`schema/batched_relations.py`: relation fields loaded once per round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from graphql import (
    GraphQLObjectType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    OperationType,
    Undefined,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_fields
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path

from schema.batched_relations import RelationLoads
from schema.batched_state import Group, Pending
from schema.fast_fields import SLOW, is_basic_field, value_of_field
from schema.sql_json import Answered

_INCREMENTAL = frozenset({"defer", "stream"})
_incremental_of: dict[int, tuple[OperationDefinitionNode, bool]] = {}
MAX_REMEMBERED = 1024
T = TypeVar("T")


# how a group answers one field: by reading it (a leaf, or an object or list of objects held as an
# attribute), by a loader for the whole group, or through graphql-core
_READ, _TYPENAME, _RELATED, _ATTRIBUTE, _EXECUTE = range(5)


class BatchedQueries(RelationLoads):
    """The executor of every operation; queries that allow it run a group at a time."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        if not self._batchable(serially):
            return super().execute_operation(serially)
        root_type = self.schema.get_root_type(OperationType.QUERY)
        if root_type is None:  # graphql-core says why
            return super().execute_operation(serially)
        try:
            collected = collect_fields(
                self.schema, self.fragments, self.variable_values, root_type, self.operation, self.hide_suggestions
            )
        except RecursionError:
            collected = None
        if collected is None:  # graphql-core says why
            return super().execute_operation(serially)
        self._data: dict[str, Any] | None = {}
        self._all_groups: list[Group] = []
        self._owners: dict[int, Group] | None = None  # made at the first error
        # the keys each loader is asked for this round, and who waits for them
        self._loads: dict[str, tuple[dict[Any, None], list[Callable[[Any, list[Pending]], None]]]] = {}
        self._known: dict[str, dict[Any, Any]] = {}  # what each loader has loaded, by key
        root_group = Group(root_type, collected[0], None)
        root_group.sources.append(self.root_value)
        root_group.outs.append(self._data)
        root_group.paths.append(None)
        self._groups = {(root_type, 0): root_group}
        pending = self._run_ready()
        if pending:
            return self._run_pending(pending)
        self._done()
        return self._let_go(self.finish(self.build_response(self._data)))

    def complete_value(
        self,
        return_type: Any,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """A value answered whole by SQL (`schema/sql_json.py`) is the answer as it is."""
        if type(result) is Answered:
            return result.value
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def _batchable(self, serially: bool | None) -> bool:
        return (
            self._fast
            and not serially
            and self.abort_signal is None
            and self.operation.operation is OperationType.QUERY
            and not self._uses_incremental_delivery()
        )

    def _uses_incremental_delivery(self) -> bool:
        """Whether the operation or a fragment has `@defer` or `@stream`, decided once per document."""
        operation = self.operation
        known = _incremental_of.get(id(operation))
        if known is not None and known[0] is operation:
            return known[1]
        nodes: list[Any] = [operation, *self.fragment_definitions.values()]
        found = False
        while nodes and not found:
            node = nodes.pop()
            found = any(d.name.value in _INCREMENTAL for d in getattr(node, "directives", None) or ())
            selection_set = getattr(node, "selection_set", None)
            if selection_set is not None:
                nodes.extend(selection_set.selections)
        if len(_incremental_of) >= MAX_REMEMBERED:
            _incremental_of.clear()
        _incremental_of[id(operation)] = (operation, found)
        return found

    def _run_ready(self) -> list[Pending]:
        """Every group that can run without waiting, including those the runs add; what they
        wait on is returned, to be awaited together."""
        pending: list[Pending] = []
        while self._groups:
            groups, self._groups = self._groups, {}
            for group in groups.values():
                self._run_group(group, pending)
        self._start_loads(pending)
        return pending

    def _run_group(self, group: Group, pending: list[Pending]) -> None:
        """The group's fields, object by object as graphql-core goes (so that of two non-null
        errors the same one nulls their position); a relation's values come later, loaded once."""
        parent_type = group.parent_type
        type_name = parent_type.name
        plans = self._plans(group, pending)
        collected_errors = self.collected_errors
        is_awaitable = self.is_awaitable
        execute_field = self.execute_field
        for source, out, path in zip(group.sources, group.outs, group.paths, strict=True):
            if collected_errors.errors and collected_errors.has_nulled_position(path):
                continue  # nothing more for an object an error has nulled
            for response_name, kind, reader, field_details_list in plans:
                if kind is _READ:
                    value = reader(source, parent_type)
                    if value is not SLOW:
                        out[response_name] = value
                        continue
                elif kind is _TYPENAME:
                    out[response_name] = type_name
                    continue
                elif kind is _RELATED:
                    out[response_name] = None  # its place, in the order of the selection
                    continue
                field_path = Path(path, response_name, type_name)
                if kind is _ATTRIBUTE:
                    try:
                        value = reader(source, field_path)
                    except Exception:  # graphql-core's way says where and why
                        value = SLOW
                    if value is not SLOW:
                        out[response_name] = value
                        continue
                try:
                    result = execute_field(parent_type, source, field_details_list, field_path, None)
                except Exception as error:  # a non-null field's error, already located
                    out[response_name] = None
                    self._propagate(group, path, error)
                    continue
                if is_awaitable(result):
                    out[response_name] = None  # its place, in the order of the selection
                    pending.append((result, partial(self._settle_field, group, path, out, response_name)))
                else:
                    out[response_name] = result

    def _plans(self, group: Group, pending: list[Pending]) -> list[tuple[str, int, Any, FieldDetailsList]]:
        """How the group answers each field of its selection; a relation's load starts here."""
        parent_type = group.parent_type
        readers = self._readers.get(parent_type) or self._readers.setdefault(parent_type, {})
        plans: list[tuple[str, int, Any, FieldDetailsList]] = []
        for response_name, field_details_list in group.grouped.items():
            name = field_details_list[0].node.name.value
            if name == "__typename":
                plans.append((response_name, _TYPENAME, None, field_details_list))
                continue
            reader = readers[name] if name in readers else self._decide(parent_type, readers, name)
            if reader is not None:
                plans.append((response_name, _READ, reader, field_details_list))
                continue
            field_def = self.schema.get_field(parent_type, name)
            if field_def is None:
                continue  # graphql-core leaves it out as well
            related = self._related(parent_type, name, field_def)
            if (
                related is not None
                and not field_details_list[0].node.arguments
                and self._load_related(group, response_name, field_details_list, field_def, related, pending)
            ):
                plans.append((response_name, _RELATED, None, field_details_list))
            elif is_basic_field(field_def) and not field_def.args and not field_details_list[0].node.arguments:
                read = value_of_field(field_def)
                attribute = partial(self._attribute, parent_type, field_def, field_details_list, read, [])
                plans.append((response_name, _ATTRIBUTE, attribute, field_details_list))
            else:
                plans.append((response_name, _EXECUTE, None, field_details_list))
        return plans

    def _attribute(
        self,
        parent_type: GraphQLObjectType,
        field_def: Any,
        field_details_list: FieldDetailsList,
        value_of: Callable[[Any], Any],
        infos: list[GraphQLResolveInfo],
        source: Any,
        field_path: Path,
    ) -> Any:
        """An object or a list of objects that Strawberry reads from the parent as it is (an edge's
        node, a connection's edges), completed here when it is usual, else SLOW. One resolve info
        serves the group: completion reads only its type and field names."""
        value = value_of(source)
        if value is Undefined or isinstance(value, Exception) or self.is_awaitable(value):
            return SLOW
        if not infos:
            infos.append(self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, field_path))
        return self._complete_plainly(field_def.type, field_details_list, infos[0], field_path, value)

    async def _run_pending(self, pending: list[Pending]) -> Any:
        """Everything waited on, together; each settled as soon as it is there (a non-null error
        nulls its position at once, so errors found later below it are dropped, as graphql-core
        drops them), then the groups that made ready."""
        try:
            while pending:
                later: list[Pending] = []
                await asyncio.gather(*(self._settled(awaitable, settle, later) for awaitable, settle in pending))
                later.extend(self._run_ready())
                pending = later
        finally:
            self._done()
        return self._let_go(self.finish(self.build_response(self._data)))

    def _done(self) -> None:
        """Let go of the groups, which hold every object of the answer."""
        self._groups = None
        self._all_groups = []
        self._owners = None
        self._known = {}

    def _let_go(self, result: T) -> T:
        """Break graphql-core's cycle (the executor holds helpers made of its own bound methods):
        in a cycle, the executor and all it holds wait for the collector instead of going when
        the request ends. Nothing asks an executor for resolve infos once its answer is made."""
        self.async_helpers = None  # type: ignore[assignment]
        return result

    @staticmethod
    async def _settled(awaitable: Awaitable[Any], settle: Callable[[Any, list[Any]], None], later: list[Any]) -> None:
        try:
            result = await awaitable
        except Exception as error:
            result = error
        settle(result, later)
