"""Accounts and sessions as the API shows them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay

from models import Role as RoleModel
from models import Session as SessionModel
from models import User as UserModel
from resolvers import library as library_resolvers
from resolvers import users as resolvers
from schema import sql_json
from schema.context import Info
from schema.errors import UserError
from schema.nodes import Connection, node_resolver
from schema.templates import Template, templates_field

if TYPE_CHECKING:
    from schema.chat import Conversation
    from schema.library import Bookmark, LibraryEntry, LibraryFilter, UserStats

Role = strawberry.enum(RoleModel, name="Role", description="What a person may do.")


@strawberry.type(description="A person: an account, or an anonymous app install.")
class User(relay.Node):
    id: relay.NodeID[str]
    email: str | None = strawberry.field(description="Null for an anonymous install.")
    role: Role = strawberry.field(description="USER, or ADMIN for system stats and default templates.")  # type: ignore[valid-type]
    is_anonymous: bool = strawberry.field(description="True until the install registers an email.")
    created_at: datetime = strawberry.field(description="When the account, or the anonymous install, was created.")

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=str(user.id),
            email=user.email,
            role=user.role,
            is_anonymous=user.is_anonymous,
            created_at=user.created_at,
        )

    @strawberry.field(description="Your videos, newest first; filter by bookmark, status, channel or date.")
    async def library(
        self,
        info: Info,
        first: int,
        after: str | None = None,
        filter: Annotated[LibraryFilter, strawberry.lazy("schema.library")] | None = None,
    ) -> Connection[Annotated[LibraryEntry, strawberry.lazy("schema.library")]]:
        from schema.library import LibraryEntry
        from services.library import LibraryFilter as Filter

        f = filter
        filters = Filter(
            bookmarked=f.bookmarked if f else None,
            status=f.status if f else None,
            channel_id=library_resolvers.raw_id(f.channel_id, "Channel", "channelId") if f else None,
            added_after=f.added_after if f else None,
            added_before=f.added_before if f else None,
        )
        if sql_json.enabled(info):
            query = library_resolvers.library_query(info, user_id=self.id, first=first, after=after, filters=filters)
            if answered := await sql_json.connection(info, query, first=first, after=after):
                return answered  # type: ignore[return-value]
        page = await library_resolvers.library_page(info, user_id=self.id, first=first, after=after, filters=filters)
        return Connection.from_page(page, LibraryEntry.from_model)

    @strawberry.field(description="Your bookmarks, newest first.")
    async def bookmarks(
        self, info: Info, first: int, after: str | None = None
    ) -> Connection[Annotated[Bookmark, strawberry.lazy("schema.library")]]:
        from schema.library import Bookmark

        if sql_json.enabled(info):
            query = library_resolvers.bookmarks_query(info, user_id=self.id, first=first, after=after)
            if answered := await sql_json.connection(info, query, first=first, after=after):
                return answered  # type: ignore[return-value]
        page = await library_resolvers.bookmarks_page(info, user_id=self.id, first=first, after=after)
        return Connection.from_page(page, Bookmark.from_model)

    @strawberry.field(description="Videos analysed, hours covered, time saved, bookmarks, conversations.")
    async def stats(self, info: Info) -> Annotated[UserStats, strawberry.lazy("schema.library")] | None:
        from schema.library import UserStats

        found = await library_resolvers.stats(info, user_id=self.id)
        return UserStats(**dataclasses.asdict(found)) if found else None

    @strawberry.field(description="Your conversations, most recently active first.")
    async def conversations(
        self, info: Info, first: int, after: str | None = None
    ) -> Connection[Annotated[Conversation, strawberry.lazy("schema.chat")]]:
        from resolvers import chat as chat_resolvers
        from schema.chat import Conversation

        page = await chat_resolvers.conversations_page(info, user_id=self.id, first=first, after=after)
        return Connection.from_page(page, Conversation.from_model)

    templates: list[Template] = strawberry.field(
        resolver=templates_field,
        description="Your templates and the system defaults you have not replaced (same type and name), "
        "by type and name.",
    )

    @strawberry.field(description="The devices signed in to this account, newest first.")
    async def sessions(self, info: Info, first: int, after: str | None = None) -> Connection[Session]:
        page = await resolvers.sessions_of_viewer(info, user_id=self.id, first=first, after=after)
        return Connection[Session].from_page(page, lambda s: Session.from_model(s, info=info))


@strawberry.type(description="A signed-in device. The token itself is never shown again.")
class Session(relay.Node):
    id: relay.NodeID[str]
    created_at: datetime = strawberry.field(description="When the device signed in.")
    expires_at: datetime = strawberry.field(description="When the token stops working; sign in again after that.")
    last_used_at: datetime | None = strawberry.field(
        description="When the token was last sent, to within five minutes; null until its first use."
    )
    platform: str | None = strawberry.field(description="The platform the app sent at sign-in; null when it sent none.")
    app_version: str | None = strawberry.field(description="The app version sent at sign-in; null when it sent none.")
    user_agent: str | None = strawberry.field(
        description="The User-Agent header of the sign-in request; null when there was none."
    )
    current: bool = strawberry.field(description="True for the session making this request.")

    @classmethod
    def from_model(cls, session: SessionModel, *, info: Info) -> Session:
        device = session.device_info or {}
        current = info.context.session is not None and info.context.session.id == session.id
        return cls(
            id=str(session.id),
            created_at=session.created_at,
            expires_at=session.expires_at,
            last_used_at=session.last_used_at,
            platform=device.get("platform"),
            app_version=device.get("app_version"),
            user_agent=device.get("user_agent"),
            current=current,
        )


@node_resolver("User")
async def _user_node(info: Info, node_id: str) -> User | None:
    viewer = info.context.viewer
    return User.from_model(viewer) if viewer is not None and str(viewer.id) == node_id else None


@node_resolver("Session")
async def _session_node(info: Info, node_id: str) -> Session | None:
    session = await resolvers.session_of_viewer(info, node_id)
    return Session.from_model(session, info=info) if session else None


@strawberry.input(description="The device a session is opened from (seed 000's device info).")
class DeviceInput:
    platform: str | None = strawberry.field(default=None, description="e.g. android, ios, web")
    app_version: str | None = strawberry.field(default=None, description="e.g. 1.4.2")


@strawberry.input(description="The email and password of a new account.")
class RegisterInput:
    email: str = strawberry.field(description="Your email; one account per address, whatever its capitalisation.")
    password: str = strawberry.field(description="At least 8 characters (the server may ask for more), at most 1024.")
    device: DeviceInput | None = strawberry.field(
        default=None, description="The device signing in, as `sessions` will show it."
    )


@strawberry.input(description="The email and password of an existing account.")
class LoginInput:
    email: str = strawberry.field(description="The account's email, in any capitalisation.")
    password: str = strawberry.field(description="The account's password.")
    device: DeviceInput | None = strawberry.field(
        default=None, description="The device signing in, as `sessions` will show it."
    )


@strawberry.type(description="The result of signing in: the bearer token is shown here only.")
class AuthPayload:
    token: str | None = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    viewer: User | None = strawberry.field(description="Who is now signed in. Null when there are errors.")
    session: Session | None = strawberry.field(description="The session just opened. Null when there are errors.")
    errors: list[UserError] = strawberry.field(
        description="Expected failures; no one was signed in when there are any."
    )


@strawberry.type(description="The result of signing out or of revoking a session.")
class LogoutPayload:
    revoked_sessions: int = strawberry.field(
        description="How many sessions were ended; 0 when there was none of yours to end."
    )
    errors: list[UserError] = strawberry.field(description="Expected failures; always empty for now.")
