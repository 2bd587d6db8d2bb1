"""The typed context every resolver receives."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.dataloaders import Loaders

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from main import AppServices
    from models import Session, User


class _LoaderSlot:
    """Holds one operation's loaders. Resolvers run in tasks of their own, which see a copy of
    the ContextVar, so the slot (not the loaders) is what the var holds: all of an operation's
    resolvers share it, and a loader made lazily by any of them serves them all."""

    __slots__ = ("loaders", "viewer")

    def __init__(self) -> None:
        self.loaders: Loaders | None = None
        self.viewer: User | None = None  # whose loaders they are


# A WebSocket's context lives as long as the connection, so loaders are kept per operation:
# each operation runs in its own task, and a ContextVar set there is seen by that task only.
_slot: ContextVar[_LoaderSlot | None] = ContextVar("vidgraph_loaders", default=None)


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: AppServices
    viewer: User | None = None
    session: Session | None = None
    connection_params: dict[str, Any] | None = field(default=None)

    @property
    def loaders(self) -> Loaders:
        slot = _slot.get()
        if slot is None:
            slot = _LoaderSlot()
            _slot.set(slot)
        loaders = slot.loaders
        # the viewer's id as text is made only when the loaders are: a field asks for them each time
        if loaders is None or slot.viewer is not self.viewer:
            loaders = slot.loaders = Loaders(viewer_id=self.viewer_id)
            slot.viewer = self.viewer
        return loaders

    def start_operation(self) -> None:
        _slot.set(_LoaderSlot())

    def reset_loaders(self) -> None:
        """Forget what was loaded (a subscription's next event shows rows as they are now);
        made again on first use, so an event that reads nothing costs nothing."""
        slot = _slot.get()
        if slot is None:
            _slot.set(_LoaderSlot())
        else:
            slot.loaders = None

    @property
    def viewer_id(self) -> str | None:
        return str(self.viewer.id) if self.viewer is not None else None

    @property
    def client_address(self) -> str | None:
        client = self.request.client
        return client.host if client else None


Info = strawberry.Info[Context, None]
