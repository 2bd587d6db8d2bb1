"""A library page's objects go when the request ends, not at the collector's next full pass.

Rows, loaders or executors caught in a reference cycle stay alive until Python's cyclic collector
finds them; under load that was every page of every request, and full passes of hundreds of
milliseconds (issue 4). The request here runs with the collector off and saving what it would free.
"""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

from models import Bookmark, User
from tests.helpers import data_of, gql, sign_up
from tests.schema.test_library import DEEP_LIBRARY, make_library

OURS = ("resolvers.", "schema.", "strawberry.dataloader", "graphql.execution")


async def test_a_deep_library_query_leaves_nothing_for_the_cycle_collector(client: Any) -> None:
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    videos = await make_library(user, 5, highlights=3)
    await Bookmark.create(user=user, video=videos[0])
    data_of(await gql(client, DEEP_LIBRARY, {"first": 5}, token=token))  # warm: imports, caches
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        body = data_of(await gql(client, DEEP_LIBRARY, {"first": 5}, token=token))
        gc.collect()
        stuck = Counter(
            f"{type(o).__module__}.{type(o).__qualname__}"
            for o in gc.garbage
            if type(o).__module__.startswith(OURS)
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(body["viewer"]["library"]["edges"]) == 5
    assert stuck == Counter(), stuck
