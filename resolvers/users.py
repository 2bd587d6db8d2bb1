"""Thin resolvers for accounts and sessions: read arguments, call the auth service, map results."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from models import Session
from resolvers.ids import as_uuid
from resolvers.pagination import Page, paginate
from services import auth
from services.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from schema.context import Info


def require_viewer(info: Info) -> None:
    if info.context.viewer is None:
        raise ServiceError(ErrorCode.UNAUTHENTICATED, "Sign in first.")


def device_of(info: Info, *, platform: str | None, app_version: str | None) -> auth.DeviceInfo:
    request = info.context.request
    return auth.DeviceInfo(
        platform=(platform or "")[:32] or None,
        app_version=(app_version or "")[:32] or None,
        user_agent=(request.headers.get("user-agent") or "")[:300] or None,
        address=info.context.client_address,
    )


def session_ttl(info: Info) -> timedelta:
    return timedelta(seconds=info.context.services.settings.session_ttl_seconds)


async def register(
    info: Info, *, email: str, password: str, platform: str | None, app_version: str | None
) -> auth.SignedIn:
    return await auth.register(
        email=email,
        password=password,
        device=device_of(info, platform=platform, app_version=app_version),
        ttl=session_ttl(info),
        min_password_length=info.context.services.settings.password_min_length,
        current=info.context.viewer,
    )


async def login(
    info: Info, *, email: str, password: str, platform: str | None, app_version: str | None
) -> auth.SignedIn:
    return await auth.login(
        email=email,
        password=password,
        device=device_of(info, platform=platform, app_version=app_version),
        ttl=session_ttl(info),
    )


async def start_anonymous_session(info: Info, *, platform: str | None, app_version: str | None) -> auth.SignedIn:
    return await auth.start_anonymous_session(
        device=device_of(info, platform=platform, app_version=app_version), ttl=session_ttl(info)
    )


async def logout(info: Info, *, everywhere: bool) -> int:
    require_viewer(info)
    viewer, session = info.context.viewer, info.context.session
    assert viewer is not None and session is not None
    if everywhere:
        return await auth.logout_everywhere(user=viewer)
    await auth.logout(session=session)
    return 1


async def revoke_session(info: Info, *, session_id: str) -> bool:
    require_viewer(info)
    assert info.context.viewer is not None
    key = as_uuid(session_id)
    return key is not None and await auth.revoke_session(user=info.context.viewer, session_id=str(key))


async def sessions_of_viewer(info: Info, *, user_id: str, first: int, after: str | None) -> Page[Session]:
    viewer = info.context.viewer
    if viewer is None or str(viewer.id) != user_id:
        return Page(rows=[], cursors=[], has_next_page=False, has_previous_page=False)
    queryset = Session.filter(user_id=viewer.id, expires_at__gt=auth.now())
    return await paginate(queryset, first=first, after=after)


async def session_of_viewer(info: Info, session_id: str) -> Session | None:
    viewer, key = info.context.viewer, as_uuid(session_id)
    if viewer is None or key is None:
        return None
    return await Session.get_or_none(id=key, user_id=viewer.id, expires_at__gt=auth.now())
