"""Mutations that sign people in and out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry import relay

from resolvers import users as resolvers
from schema.context import Info
from schema.errors import UserError
from schema.users import AuthPayload, DeviceInput, LoginInput, LogoutPayload, RegisterInput, Session, User
from services.auth import SignedIn
from services.errors import ServiceError


def _signed_in(info: Info, result: SignedIn) -> AuthPayload:
    # later fields of this operation see the new session
    info.context.viewer, info.context.session = result.user, result.session
    return AuthPayload(
        token=result.token,
        viewer=User.from_model(result.user),
        session=Session.from_model(result.session, info=info),
        errors=[],
    )


def _failed(error: ServiceError) -> AuthPayload:
    return AuthPayload(token=None, viewer=None, session=None, errors=[UserError.from_service(error)])


async def _with_password(
    info: Info, action: Callable[..., Awaitable[SignedIn]], input: RegisterInput | LoginInput
) -> AuthPayload:
    device = input.device or DeviceInput()
    try:
        result = await action(
            info, email=input.email, password=input.password, platform=device.platform, app_version=device.app_version
        )
    except ServiceError as error:
        return _failed(error)
    return _signed_in(info, result)


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        description="Create an account. Called from an anonymous session, the install keeps its library."
    )
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        return await _with_password(info, resolvers.register, input)

    @strawberry.mutation(description="Sign in with email and password; opens a new session.")
    async def login(self, info: Info, input: LoginInput) -> AuthPayload:
        return await _with_password(info, resolvers.login, input)

    @strawberry.mutation(description="Start a private anonymous account for an app install; it can register later.")
    async def start_anonymous_session(self, info: Info, device: DeviceInput | None = None) -> AuthPayload:
        device = device or DeviceInput()
        result = await resolvers.start_anonymous_session(info, platform=device.platform, app_version=device.app_version)
        return _signed_in(info, result)

    @strawberry.mutation(description="End this session, or with `everywhere: true` every session of the account.")
    async def logout(self, info: Info, everywhere: bool = False) -> LogoutPayload:
        revoked = await resolvers.logout(info, everywhere=everywhere)
        return LogoutPayload(revoked_sessions=revoked, errors=[])

    @strawberry.mutation(description="End one of the viewer's sessions, e.g. a lost phone.")
    async def revoke_session(self, info: Info, id: relay.GlobalID) -> LogoutPayload:
        if id.type_name != "Session":
            revoked = False
        else:
            revoked = await resolvers.revoke_session(info, session_id=id.node_id)
        return LogoutPayload(revoked_sessions=int(revoked), errors=[])
