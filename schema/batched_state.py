"""The state of a batched query (schema/batched.py): its groups of objects, how an object joins
one, and how a non-null error nulls the nearest nullable position above it.

A group is the objects of one type that one field's selection reaches. An object a field completes
to joins its group (`_enlist`) with an empty dict that stands in the answer at once and is filled
when the group runs. An error in a non-null field nulls the nearest nullable position above it,
found from the field types between each object and its parent and the path (`_nullable_position`),
and is recorded there, as graphql-core records it when the error unwinds to that position; errors
below a nulled position are then dropped by graphql-core's `CollectedErrors.add`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path

from schema.fast_fields import SLOW, FastLeafFields


class Group:
    """The objects of one type that one field's selection reaches, executed together: for each,
    its value, the dict that answers for it and its path, in three lists (no object per object:
    the collector walks every object alive, and a page has about a thousand)."""

    __slots__ = ("field_name", "grouped", "outs", "parent_type", "paths", "sources")

    def __init__(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet, field_name: str | None) -> None:
        self.parent_type = parent_type
        self.grouped = grouped
        self.field_name = field_name  # of the field they came from (None for the root)
        self.sources: list[Any] = []
        self.outs: list[dict[str, Any]] = []
        self.paths: list[Any] = []  # Path, or None for the root


# something awaited, and what to do with its result (or the exception it raised) once it is there
Pending = tuple[Awaitable[Any], Callable[[Any, list[Any]], None]]


class ObjectGroups(FastLeafFields):
    """Groups, joining them, completing the usual values plainly, and errors."""

    _groups: dict[tuple[GraphQLObjectType, int], Group] | None = None
    _data: dict[str, Any] | None
    _all_groups: list[Group]
    _owners: dict[int, Group] | None

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """In a batched query, an object that graphql-core has completed this far (its type checked
        by `complete_object_value`) joins its group and is answered by an empty dict that its group
        fills, instead of having its fields executed here."""
        if self._groups is None:
            return super().collect_and_execute_subfields(
                return_type, field_details_list, path, result, position_context
            )
        return self._enlist(return_type, field_details_list, path, result)

    def _enlist(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList, path: Path, result: Any
    ) -> dict[str, Any]:
        groups = self._groups
        assert groups is not None
        key = (return_type, id(field_details_list))  # the list stays alive in graphql-core's memo
        group = groups.get(key)
        if group is None:
            grouped = self.collect_subfields(return_type, field_details_list)[0]
            group = groups[key] = Group(return_type, grouped, field_details_list[0].node.name.value)
            self._all_groups.append(group)
        out: dict[str, Any] = {}
        group.sources.append(result)
        group.outs.append(out)
        group.paths.append(path)
        return out

    def _enlist_all(
        self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList, path: Path, results: list[Any]
    ) -> list[dict[str, Any]]:
        """`_enlist` for every element of a list, at once."""
        if not results:
            return []
        # the first as any object (it may be the one that makes the group), the rest appended
        first = self._enlist(return_type, field_details_list, path.add_key(0, None), results[0])
        group = self._groups[(return_type, id(field_details_list))]  # type: ignore[index]
        rest: list[dict[str, Any]] = [{} for _ in range(len(results) - 1)]
        group.sources.extend(results[1:])
        group.outs.extend(rest)
        add_key = path.add_key
        group.paths.extend(add_key(index, None) for index in range(1, len(results)))
        return [first, *rest]

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
            return self._enlist(of_type, field_details_list, path, value)
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
            return self._enlist_all(object_type, field_details_list, path, value)
        enlist, add_key = self._enlist, path.add_key
        return [
            None if element is None else enlist(object_type, field_details_list, add_key(index, None), element)
            for index, element in enumerate(value)
        ]

    def _settle_field(
        self, group: Group, path: Path | None, out: dict[str, Any], response_name: str, result: Any, _: list[Any]
    ) -> None:
        """A field graphql-core executed; an exception is a non-null field's, already located."""
        if isinstance(result, Exception):
            self._propagate(group, path, result)
        else:
            out[response_name] = result

    def _field_failed(
        self,
        group: Group,
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

    def _propagate(self, group: Group, path: Path | None, error: Exception) -> None:
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

    def _nullable_position(self, group: Group | None, path: Path | None) -> Path | None:
        """The path of the innermost nullable position holding the object at `path` (of `group`),
        or None for the root."""
        while group is not None and path is not None:
            # the positions between the object and its parent: the field, then an item per list
            nullable: list[bool] = []
            field_type: GraphQLOutputType = self._field_type(group, path)
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

    def _field_type(self, group: Group, path: Path) -> GraphQLOutputType:
        """The type, wrappers and all, of the field the group's objects came from: the field named
        `group.field_name` of the type the path names at the field's own position."""
        at: Path | None = path
        while at is not None and not isinstance(at.key, str):  # past the list positions
            at = at.prev
        assert at is not None and at.typename is not None and group.field_name is not None
        parent_type = self.schema.get_type(at.typename)
        field = self.schema.get_field(parent_type, group.field_name)  # type: ignore[arg-type]
        assert field is not None
        return field.type

    def _owner(self, path: Path) -> Group | None:
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
