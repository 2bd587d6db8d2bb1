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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet, collect_fields
from graphql.execution.executor import invalid_return_type_error, to_nodes
from graphql.pyutils import Path
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema.fast_fields import SLOW, FastLeafFields, is_basic_field, value_of_field
from schema.related import Related, load_distinct, related_of

_INCREMENTAL = frozenset({"defer", "stream"})
_incremental_of: dict[int, tuple[OperationDefinitionNode, bool]] = {}
MAX_REMEMBERED = 1024
# each type's fields that are relations, decided once per process (weakly: per schema)
_relations: WeakKeyDictionary[GraphQLObjectType, dict[str, Related | None]] = WeakKeyDictionary()
T = TypeVar("T")


class _Group:
    """The objects of one type that one field's selection reaches, executed together: for each,
    its value, the dict that answers for it and its path, in three lists (no object per object:
    the collector walks every object alive, and a page has about a thousand)."""

    __slots__ = ("field_type", "grouped", "outs", "parent_type", "paths", "sources")

    def __init__(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet, field_type: Any) -> None:
        self.parent_type = parent_type
        self.grouped = grouped
        self.field_type = field_type  # the type of the field they came from, wrappers and all
        self.sources: list[Any] = []
        self.outs: list[dict[str, Any]] = []
        self.paths: list[Any] = []  # Path, or None for the root


# something awaited, and what to do with its result (or the exception it raised) once it is there
_Pending = tuple[Awaitable[Any], Callable[[Any, list[Any]], None]]
# how a group answers one field: by reading it (a leaf, or an object or list of objects held as an
# attribute), by a loader for the whole group, or through graphql-core
_READ, _TYPENAME, _RELATED, _ATTRIBUTE, _EXECUTE = range(5)


class BatchedQueries(FastLeafFields):
    """The executor of every operation; queries that allow it run a group at a time."""

    _groups: dict[tuple[GraphQLObjectType, int], _Group] | None = None

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
        self._all_groups: list[_Group] = []
        self._owners: dict[int, _Group] | None = None  # made at the first error
        # the keys each loader is asked for this round, and who waits for them
        self._loads: dict[str, tuple[dict[Any, None], list[Callable[[Any, list[_Pending]], None]]]] = {}
        self._known: dict[str, dict[Any, Any]] = {}  # what each loader has loaded, by key
        root_group = _Group(root_type, collected[0], None)
        root_group.sources.append(self.root_value)
        root_group.outs.append(self._data)
        root_group.paths.append(None)
        self._groups = {(root_type, 0): root_group}
        pending = self._run_ready()
        if pending:
            return self._run_pending(pending)
        self._done()
        return self._let_go(self.finish(self.build_response(self._data)))

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

    # ------------------------------------------------------------------ the groups

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """In a batched query, the object joins its group and is answered by an empty dict that its
        group fills; `is_type_of` is checked first, as graphql-core does."""
        if self._groups is None:
            return super().complete_object_value(return_type, field_details_list, info, path, result, position_context)
        if return_type.is_type_of:
            is_type_of = return_type.is_type_of(result, info)
            if self.is_awaitable(is_type_of):
                return self._enlist_when(is_type_of, return_type, field_details_list, info, path, result)
            if not is_type_of:
                raise invalid_return_type_error(return_type, result, field_details_list)
        return self._enlist(return_type, field_details_list, info, path, result)

    async def _enlist_when(
        self,
        is_type_of: Awaitable[bool],
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
    ) -> dict[str, Any]:
        if not await is_type_of:
            raise invalid_return_type_error(return_type, result, field_details_list)
        return self._enlist(return_type, field_details_list, info, path, result)

    def _enlist(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
    ) -> dict[str, Any]:
        groups = self._groups
        assert groups is not None
        key = (return_type, id(field_details_list))  # the list stays alive in graphql-core's memo
        group = groups.get(key)
        if group is None:
            grouped = self.collect_subfields(return_type, field_details_list)[0]
            group = groups[key] = _Group(return_type, grouped, info.return_type)
            self._all_groups.append(group)
        out: dict[str, Any] = {}
        group.sources.append(result)
        group.outs.append(out)
        group.paths.append(path)
        return out

    def _run_ready(self) -> list[_Pending]:
        """Every group that can run without waiting, including those the runs add; what they
        wait on is returned, to be awaited together."""
        pending: list[_Pending] = []
        while self._groups:
            groups, self._groups = self._groups, {}
            for group in groups.values():
                self._run_group(group, pending)
        self._start_loads(pending)
        return pending

    def _run_group(self, group: _Group, pending: list[_Pending]) -> None:
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

    def _plans(self, group: _Group, pending: list[_Pending]) -> list[tuple[str, int, Any, FieldDetailsList]]:
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

    def _settle_field(
        self, group: _Group, path: Path | None, out: dict[str, Any], response_name: str, result: Any, _: list[Any]
    ) -> None:
        """A field graphql-core executed; an exception is a non-null field's, already located."""
        if isinstance(result, Exception):
            self._propagate(group, path, result)
        else:
            out[response_name] = result

    async def _run_pending(self, pending: list[_Pending]) -> Any:
        """Everything waited on, together; each settled as soon as it is there (a non-null error
        nulls its position at once, so errors found later below it are dropped, as graphql-core
        drops them), then the groups that made ready."""
        try:
            while pending:
                later: list[_Pending] = []
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

    # ------------------------------------------------------------------ relations

    def _related(self, parent_type: GraphQLObjectType, name: str, field_def: Any) -> Related | None:
        """The field's `Related`, when the loader may answer for a whole group: it has no arguments
        and no Strawberry extensions (permissions are extensions) that its resolver would run."""
        known = _relations.get(parent_type)
        if known is None:
            known = _relations[parent_type] = {}
        if name in known:
            return known[name]
        strawberry_field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        related = None
        if strawberry_field is not None and not field_def.args and not strawberry_field.extensions:
            related = related_of(strawberry_field)
        known[name] = related
        return related

    def _load_related(
        self,
        group: _Group,
        response_name: str,
        field_details_list: FieldDetailsList,
        field_def: Any,
        related: Related,
        pending: list[_Pending],
    ) -> bool:
        """One load for the field of every object of the group; each value is made and completed
        when it is there (`_settle_related`)."""
        try:
            keys = related.keys(group.sources)
        except Exception:  # a parent without the key: each goes its own way, and fails there
            return False
        known = self._known.get(related.loader, {})
        waiting = self._loads.setdefault(related.loader, ({}, []))
        waiting[0].update(dict.fromkeys(k for k in keys if k is not None and k not in known))
        settle = partial(self._settle_related, group, keys, response_name, field_details_list, field_def, related)
        waiting[1].append(settle)
        return True

    def _start_loads(self, pending: list[_Pending]) -> None:
        """One call of each loader for the keys every group of the round asked it for and no
        earlier round loaded (a loaded key is kept for the operation, as a DataLoader keeps it)."""
        loads, self._loads = self._loads, {}
        for loader, (keys, settles) in loads.items():
            loading = load_distinct(self.context_value, loader, list(keys))
            pending.append((loading, partial(self._loaded, loader, settles)))

    def _loaded(
        self, loader: str, settles: list[Callable[[Any, list[_Pending]], None]], loaded: Any, pending: list[_Pending]
    ) -> None:
        if not isinstance(loaded, Exception):
            loaded = self._known.setdefault(loader, {}) | loaded
            self._known[loader] = loaded
        for settle in settles:
            settle(loaded, pending)

    def _settle_related(
        self,
        group: _Group,
        keys: list[Any],
        response_name: str,
        field_details_list: FieldDetailsList,
        field_def: Any,
        related: Related,
        loaded: dict[Any, Any] | Exception,
        pending: list[_Pending],
    ) -> None:
        """Each object's value from what was loaded (by key), completed by graphql-core; an error is each
        object's own, located at its path, as when its resolver raises it. An object without a key
        loaded nothing, so it is null even when the load failed."""
        parent_type, return_type = group.parent_type, field_def.type
        failed = loaded if isinstance(loaded, Exception) else None
        by_key = loaded if not isinstance(loaded, Exception) else {}
        info: GraphQLResolveInfo | None = None
        for source, out, path, key in zip(group.sources, group.outs, group.paths, keys, strict=True):
            field_path = Path(path, response_name, parent_type.name)
            if info is None:  # read by completion for the type and field names only
                info = self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, field_path)
            try:
                if key is None:
                    value = None
                elif failed is not None:
                    raise located_error(failed, to_nodes(field_details_list), field_path.as_list())
                else:
                    value = related.convert(source, by_key[key])
                completed = self._complete_plainly(return_type, field_details_list, info, field_path, value)
                if completed is SLOW:
                    completed = self.complete_value(return_type, field_details_list, info, field_path, value, None)
            except Exception as raw_error:
                self._field_failed(group, path, raw_error, return_type, field_details_list, field_path)
                continue
            if self.is_awaitable(completed):
                settle = partial(self._settle_field, group, path, out, response_name)
                pending.append((self._completed(completed, return_type, field_details_list, field_path), settle))
            else:
                out[response_name] = completed

    def _complete_plainly(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        value: Any,
    ) -> Any:
        """`complete_value` for the usual values of a relation, with nothing to check on the way:
        an object (or null where null is allowed) or a list of them, each of its type. Anything
        else, SLOW, before anything was done: `complete_value` then takes it, and says what is wrong."""
        non_null = isinstance(return_type, GraphQLNonNull)
        of_type = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if value is None:
            return SLOW if non_null else None
        if isinstance(of_type, GraphQLObjectType):
            if of_type.is_type_of is not None and of_type.is_type_of(value, info) is not True:
                return SLOW
            return self._enlist(of_type, field_details_list, info, path, value)
        if not (isinstance(of_type, GraphQLList) and type(value) is list):
            return SLOW
        item_type = of_type.of_type
        items_non_null = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(object_type, GraphQLObjectType):
            return SLOW
        is_type_of = object_type.is_type_of
        for element in value:
            if element is None:
                if items_non_null:
                    return SLOW
            elif is_type_of is not None and is_type_of(element, info) is not True:
                return SLOW
        if items_non_null or None not in value:  # the usual list: every element joins one group
            return self._enlist_all(object_type, field_details_list, info, path, value)
        enlist, add_key = self._enlist, path.add_key
        return [
            None if element is None else enlist(object_type, field_details_list, info, add_key(index, None), element)
            for index, element in enumerate(value)
        ]

    def _enlist_all(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        results: list[Any],
    ) -> list[dict[str, Any]]:
        """`_enlist` for every element of a list, at once."""
        if not results:
            return []
        # the first as any object (it may be the one that makes the group), the rest appended
        first = self._enlist(return_type, field_details_list, info, path.add_key(0, None), results[0])
        group = self._groups[(return_type, id(field_details_list))]  # type: ignore[index]
        rest: list[dict[str, Any]] = [{} for _ in range(len(results) - 1)]
        group.sources.extend(results[1:])
        group.outs.extend(rest)
        add_key = path.add_key
        group.paths.extend(add_key(index, None) for index in range(1, len(results)))
        return [first, *rest]

    def _field_failed(
        self,
        group: _Group,
        path: Path | None,
        raw_error: Exception,
        return_type: Any,
        field_details_list: FieldDetailsList,
        field_path: Path,
    ) -> None:
        try:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)  # null, error recorded
        except Exception as located:  # a non-null field: it goes up
            self._propagate(group, path, located)

    async def _completed(
        self, completed: Awaitable[Any], return_type: Any, field_details_list: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    # ------------------------------------------------------------------ errors

    def _propagate(self, group: _Group, path: Path | None, error: Exception) -> None:
        """A non-null field of the object at `path` failed: null the nearest nullable position
        above it and record the error there, as graphql-core does when the error unwinds to it."""
        if not isinstance(error, GraphQLError):
            error = located_error(error, None, None)
        at = self._nullable_position(group, path)
        if at is None:
            self._data = None
            self.collected_errors.add(error, None)
            return
        self.collected_errors.add(error, at)
        self._set_null(at)

    def _nullable_position(self, group: _Group | None, path: Path | None) -> Path | None:
        """The path of the innermost nullable position holding the object at `path` (of `group`),
        or None for the root."""
        while group is not None and path is not None:
            # the positions between the object and its parent: the field, then an item per list
            nullable: list[bool] = []
            field_type: GraphQLOutputType = group.field_type
            while True:
                if isinstance(field_type, GraphQLNonNull):
                    nullable.append(False)
                    field_type = field_type.of_type
                else:
                    nullable.append(True)
                if not isinstance(field_type, GraphQLList):
                    break
                field_type = field_type.of_type
            for is_nullable in reversed(nullable):  # innermost first
                assert path is not None
                if is_nullable:
                    return path
                path = path.prev
            group = self._owner(path) if path is not None else None
        return None

    def _owner(self, path: Path) -> _Group | None:
        """The group of the object at `path`; the index is made at the first error and again
        when objects enlisted since are asked for."""
        owners = self._owners
        if owners is None or id(path) not in owners:
            owners = self._owners = {id(p): g for g in self._all_groups for p in g.paths}
        return owners.get(id(path))

    def _set_null(self, path: Path) -> None:
        keys = path.as_list()
        container: Any = self._data
        for key in keys[:-1]:
            if container is None:
                return  # already nulled further up
            container = container[key]
        if container is not None:
            container[keys[-1]] = None
