"""Relation fields answered by a DataLoader, declared once for both ways of executing them.

Most fields between objects are the same three steps: a key read from the parent (`video_id`), a
DataLoader of the operation that looks keys up (`video_by_id`), and the loaded row turned into the
API's object (`Video.from_model`). A `Related` says those three things. Its `one` is the field's
resolver for one parent, as graphql-core calls it; the batched executor (`schema/batched.py`) reads
the same `Related` from the field's metadata and asks the loader's batch function for the keys of
every parent of a level at once (`load_distinct`), then makes each parent's value with the same
`convert`. The two cannot drift apart:
there is one declaration, and the per-parent resolver is nothing but `one`.

A parent whose key is None has the value None (an entry with no analysis yet, a video with no
channel); `convert` is not called for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from schema.context import Context, Info

METADATA_KEY = "vidgraph.related"


@dataclass(frozen=True)
class Related:
    loader: str  # an attribute of resolvers.dataloaders.Loaders
    key: str  # the parent's attribute holding the key
    convert: Callable[[Any, Any], Any]  # (parent, what the loader loaded) -> the field's value

    @property
    def metadata(self) -> dict[str, Related]:
        """For `strawberry.field(metadata=...)`: how the batched executor finds this."""
        return {METADATA_KEY: self}

    async def one(self, parent: Any, info: Info) -> Any:
        key = getattr(parent, self.key)
        if key is None:
            return None
        return self.convert(parent, await getattr(info.context.loaders, self.loader).load(key))

    def keys(self, parents: Sequence[Any]) -> list[Any]:
        return [getattr(parent, self.key) for parent in parents]



async def load_distinct(context: Context, loader: str, keys: Sequence[Any]) -> dict[Any, Any]:
    """What the loader's batch function gives for each of `keys` (distinct, none None), by key.
    The batch function is called directly: the batched executor already holds every key of a
    level, and `load_many` would make a future, a task record and a callback per key only to
    gather them again."""
    if not keys:
        return {}
    loaded = list(await getattr(context.loaders, loader).load_fn(keys))
    if len(loaded) != len(keys):
        raise ValueError(f"{loader} gave {len(loaded)} values for {len(keys)} keys")
    for value in loaded:  # a value that is an exception fails its key, as in a DataLoader
        if isinstance(value, BaseException):
            raise value
    return dict(zip(keys, loaded, strict=True))


def related_of(strawberry_field: Any) -> Related | None:
    metadata = getattr(strawberry_field, "metadata", None) or {}
    found = metadata.get(METADATA_KEY)
    return found if isinstance(found, Related) else None
