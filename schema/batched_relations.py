"""Relation fields in a batched query (schema/batched.py): one call of each loader's batch
function per round, for the keys of every group that asked for it (`schema/related.py`).

A group asks for its objects' keys (`_load_related`); when the round's groups have run, each loader
is called once with every key asked of it that no earlier round loaded (`_start_loads`); what it
loads is kept for the rest of the operation, as a DataLoader keeps it. Each object's value is then
made with the relation's `convert` and completed (`_settle_related`); an error is each object's
own, located at its path, as when its resolver raises it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from graphql import GraphQLObjectType, GraphQLResolveInfo, located_error
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema.batched_state import Group, ObjectGroups, Pending
from schema.fast_fields import SLOW
from schema.related import Related, load_distinct, related_of

# each type's fields that are relations, decided once per process (weakly: per schema)
_relations: WeakKeyDictionary[GraphQLObjectType, dict[str, Related | None]] = WeakKeyDictionary()


class RelationLoads(ObjectGroups):
    """Relation fields of a group: keys asked for, loaded once per round, values completed."""

    # the keys each loader is asked for this round, and who waits for them
    _loads: dict[str, tuple[dict[Any, None], list[Callable[[Any, list[Pending]], None]]]]
    _known: dict[str, dict[Any, Any]]  # what each loader has loaded, by key

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
        group: Group,
        response_name: str,
        field_details_list: FieldDetailsList,
        field_def: Any,
        related: Related,
        pending: list[Pending],
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

    def _start_loads(self, pending: list[Pending]) -> None:
        """One call of each loader for the keys every group of the round asked it for and no
        earlier round loaded (a loaded key is kept for the operation, as a DataLoader keeps it)."""
        loads, self._loads = self._loads, {}
        for loader, (keys, settles) in loads.items():
            loading = load_distinct(self.context_value, loader, list(keys))
            pending.append((loading, partial(self._loaded, loader, settles)))

    def _loaded(
        self, loader: str, settles: list[Callable[[Any, list[Pending]], None]], loaded: Any, pending: list[Pending]
    ) -> None:
        if not isinstance(loaded, Exception):
            loaded = self._known.setdefault(loader, {}) | loaded
            self._known[loader] = loaded
        for settle in settles:
            settle(loaded, pending)

    def _settle_related(
        self,
        group: Group,
        keys: list[Any],
        response_name: str,
        field_details_list: FieldDetailsList,
        field_def: Any,
        related: Related,
        loaded: dict[Any, Any] | Exception,
        pending: list[Pending],
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

    async def _completed(
        self, completed: Awaitable[Any], return_type: Any, field_details_list: FieldDetailsList, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
