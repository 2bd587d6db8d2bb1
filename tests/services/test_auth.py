from __future__ import annotations

from datetime import timedelta

import pytest

from models import Session, User
from services import auth
from services.errors import ErrorCode, ServiceError


async def test_expired_sessions_are_cleaned_up(asgi_app):
    device = auth.DeviceInfo(platform="web")
    live = await auth.start_anonymous_session(device=device, ttl=timedelta(days=7))
    old = await auth.start_anonymous_session(device=device, ttl=timedelta(seconds=-1))
    assert await auth.delete_expired_sessions() == 1
    assert await Session.filter(id=old.session.id).count() == 0
    assert await Session.filter(id=live.session.id).count() == 1


async def test_passwords_are_stored_as_argon2id(asgi_app):
    signed = await auth.register(
        email="ada@example.com",
        password="correct horse battery",
        device=auth.DeviceInfo(),
        ttl=timedelta(days=1),
        min_password_length=8,
    )
    user = await User.get(id=signed.user.id)
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse battery" not in user.password_hash


async def test_createadmin_promotes_an_existing_account(asgi_app):
    await auth.register(
        email="ada@example.com",
        password="correct horse battery",
        device=auth.DeviceInfo(),
        ttl=timedelta(days=1),
        min_password_length=8,
    )
    admin = await auth.create_admin(email="ADA@example.com", password="a new long password", min_password_length=8)
    assert admin.role.value == "admin"
    assert await User.all().count() == 1
    signed = await auth.login(
        email="ada@example.com", password="a new long password", device=auth.DeviceInfo(), ttl=timedelta(days=1)
    )
    assert signed.user.id == admin.id


def test_email_normalisation_rejects_garbage():
    with pytest.raises(ServiceError) as caught:
        auth.normalise_email("ada@@example")
    assert caught.value.code is ErrorCode.INVALID_EMAIL
    assert auth.normalise_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"
