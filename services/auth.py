"""Accounts and sessions: registration, login, anonymous installs, bearer tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import Role, Session, User
from services.errors import ErrorCode, ServiceError

TOKEN_PREFIX = "vgs_"  # noqa: S105 (a marker for secret scanners, not a secret)
PASSWORD_MAX_LENGTH = 1024  # argon2 accepts more; this bounds the work one request can ask for
# seconds between writes of `last_used_at`, so that reading a session is not a write per request
TOUCH_INTERVAL = timedelta(minutes=5)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# verified against when the email is unknown, so that both failures take the same time
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    session: Session
    token: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    platform: str | None = None
    app_version: str | None = None
    user_agent: str | None = None
    address: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("platform", self.platform),
                ("app_version", self.app_version),
                ("user_agent", self.user_agent),
                ("last_ip", self.address),
            )
            if v
        }


def now() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ServiceError(ErrorCode.INVALID_EMAIL, str(exc), field="email") from exc
    # one account per mailbox whatever the capitalisation people type
    return result.normalized.lower()


def check_password(password: str, *, min_length: int) -> None:
    if len(password) < min_length:
        raise ServiceError(
            ErrorCode.PASSWORD_TOO_SHORT,
            f"The password must have at least {min_length} characters.",
            field="password",
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ServiceError(
            ErrorCode.PASSWORD_TOO_LONG,
            f"The password must have at most {PASSWORD_MAX_LENGTH} characters.",
            field="password",
        )


async def hash_password(password: str) -> str:
    # argon2 takes tens of milliseconds of CPU on purpose: keep it off the event loop
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def _password_matches(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, password_hash, password)


async def _open_session(*, user: User, device: DeviceInfo, ttl: timedelta) -> SignedIn:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
    session = await Session.create(
        user=user, token_hash=hash_token(token), expires_at=now() + ttl, device_info=device.as_json()
    )
    return SignedIn(user=user, session=session, token=token)


async def register(
    *,
    email: str,
    password: str,
    device: DeviceInfo,
    ttl: timedelta,
    min_password_length: int,
    current: User | None = None,
    role: Role = Role.USER,
) -> SignedIn:
    """Create an account, or give the caller's anonymous account an email and keep its data."""
    address = normalise_email(email)
    check_password(password, min_length=min_password_length)
    if current is not None and not current.is_anonymous:
        raise ServiceError(ErrorCode.ALREADY_REGISTERED, "You are already signed in to an account.")
    password_hash = await hash_password(password)
    try:
        async with in_transaction():
            if await User.filter(email=address).exists():
                raise ServiceError(ErrorCode.EMAIL_TAKEN, "An account with this email exists.", field="email")
            if current is None:
                user = await User.create(email=address, password_hash=password_hash, role=role)
            else:
                current.email, current.password_hash, current.is_anonymous = address, password_hash, False
                await current.save(update_fields=["email", "password_hash", "is_anonymous", "updated_at"])
                user = current
    except IntegrityError as exc:  # a concurrent registration won the race for this email
        raise ServiceError(ErrorCode.EMAIL_TAKEN, "An account with this email exists.", field="email") from exc
    return await _open_session(user=user, device=device, ttl=ttl)


async def login(*, email: str, password: str, device: DeviceInfo, ttl: timedelta) -> SignedIn:
    wrong = ServiceError(ErrorCode.INVALID_CREDENTIALS, "The email or the password is wrong.")
    try:
        address = normalise_email(email)
    except ServiceError:
        await _password_matches(None, password)  # same work as a real attempt: no timing signal
        raise wrong from None
    user = await User.get_or_none(email=address)
    if not await _password_matches(user.password_hash if user else None, password) or user is None:
        raise wrong
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = await hash_password(password)
        await user.save(update_fields=["password_hash"])
    await Session.filter(user=user, expires_at__lte=now()).delete()
    return await _open_session(user=user, device=device, ttl=ttl)


async def start_anonymous_session(*, device: DeviceInfo, ttl: timedelta) -> SignedIn:
    # every call is a new private user: a device id is never a key to someone's data
    user = await User.create(is_anonymous=True)
    return await _open_session(user=user, device=device, ttl=ttl)


async def authenticate(*, token: str) -> tuple[User, Session]:
    """The session a bearer token opens; UNAUTHENTICATED when unknown or expired."""
    session = await Session.get_or_none(token_hash=hash_token(token)).select_related("user")
    moment = now()
    if session is None or session.expires_at <= moment:
        raise ServiceError(ErrorCode.UNAUTHENTICATED, "The session is invalid or has expired; sign in again.")
    if session.last_used_at is None or moment - session.last_used_at > TOUCH_INTERVAL:
        session.last_used_at = moment
        await Session.filter(id=session.id).update(last_used_at=moment)
    return session.user, session


async def logout(*, session: Session) -> None:
    await Session.filter(id=session.id).delete()


async def logout_everywhere(*, user: User) -> int:
    return await Session.filter(user=user).delete()


async def revoke_session(*, user: User, session_id: str) -> bool:
    return await Session.filter(user=user, id=session_id).delete() > 0


async def delete_expired_sessions() -> int:
    return await Session.filter(expires_at__lte=now()).delete()


async def create_admin(*, email: str, password: str, min_password_length: int) -> User:
    """Create an admin account, or promote the existing account of that email."""
    address = normalise_email(email)
    check_password(password, min_length=min_password_length)
    user = await User.get_or_none(email=address)
    if user is None:
        return await User.create(email=address, password_hash=await hash_password(password), role=Role.ADMIN)
    user.role, user.password_hash = Role.ADMIN, await hash_password(password)
    await user.save(update_fields=["role", "password_hash", "updated_at"])
    return user
