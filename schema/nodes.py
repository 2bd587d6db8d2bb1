"""Relay plumbing: the `node(id:)` lookup and the connection shape shared by every list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic

import strawberry
from strawberry import relay
from strawberry.relay.types import NodeType

from resolvers.pagination import Page
from schema.context import Info

# type name -> resolver of one node for the viewer; filled in by each domain's types module
NodeResolver = Callable[[Info, str], Awaitable[Any]]
_NODE_RESOLVERS: dict[str, NodeResolver] = {}


def node_resolver(type_name: str) -> Callable[[NodeResolver], NodeResolver]:
    def register(fn: NodeResolver) -> NodeResolver:
        _NODE_RESOLVERS[type_name] = fn
        return fn

    return register


async def resolve_node(info: Info, id: strawberry.ID) -> relay.Node | None:
    """Another user's object, an unknown type and a missing id all answer null alike."""
    try:
        gid = relay.GlobalID.from_id(id)
    except (ValueError, TypeError):
        return None
    resolver = _NODE_RESOLVERS.get(gid.type_name)
    if resolver is None:
        return None
    node: relay.Node | None = await resolver(info, gid.node_id)
    return node


@strawberry.type(description="A page of a list, newest first, with cursors to go on.")
class Connection(Generic[NodeType]):
    edges: list[relay.Edge[NodeType]] = strawberry.field(description="The items of this page.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page stands in the list.")

    @classmethod
    def from_page(cls, page: Page[Any], convert: Callable[[Any], NodeType]) -> Connection[NodeType]:
        edges = [relay.Edge(cursor=c, node=convert(r)) for r, c in zip(page.rows, page.cursors, strict=True)]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
        )

    @strawberry.field(description="The items of this page, without their cursors.")
    def nodes(self) -> list[NodeType]:
        return [edge.node for edge in self.edges]
