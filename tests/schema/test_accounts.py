from __future__ import annotations

from datetime import timedelta

from models import Session, User
from services.auth import hash_token, now
from tests.helpers import REGISTER, data_of, gql, sign_up

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) {
    token
    viewer { email }
    session { platform appVersion current }
    errors { code field message }
  }
}
"""
VIEWER = "{ viewer { id email role isAnonymous } }"
ANONYMOUS = """
mutation Anon($device: DeviceInput) {
  startAnonymousSession(device: $device) {
    token viewer { id isAnonymous email } session { platform appVersion } errors { code }
  }
}
"""
LOGOUT = "mutation($everywhere: Boolean!) { logout(everywhere: $everywhere) { revokedSessions errors { code } } }"
SESSIONS = "{ viewer { sessions(first: 10) { edges { node { id platform current } } } } }"


async def test_register_then_query_viewer(client):
    body = data_of(
        await gql(client, REGISTER, {"input": {"email": " Ada@Example.COM ", "password": "correct horse battery"}})
    )
    payload = body["register"]
    assert payload["errors"] == []
    assert payload["viewer"]["email"] == "ada@example.com"
    assert payload["viewer"]["role"] == "USER"
    viewer = data_of(await gql(client, VIEWER, token=payload["token"]))["viewer"]
    assert viewer == payload["viewer"]


async def test_viewer_is_null_when_signed_out(client):
    assert data_of(await gql(client, VIEWER))["viewer"] is None


async def test_token_is_long_random_and_only_its_hash_is_stored(client):
    token = await sign_up(client)
    assert len(token) >= 43 + 4  # 256 bits in url-safe base64 after the prefix
    stored = await Session.all().values_list("token_hash", flat=True)
    assert stored == [hash_token(token)]
    assert token not in stored


async def test_malformed_email_is_refused_and_nothing_is_created(client):
    body = data_of(await gql(client, REGISTER, {"input": {"email": "not-an-email", "password": "long enough pw"}}))
    assert body["register"]["token"] is None
    [error] = body["register"]["errors"]
    assert (error["code"], error["field"]) == ("INVALID_EMAIL", "email")
    assert await User.all().count() == 0


async def test_short_password_is_refused(client):
    body = data_of(await gql(client, REGISTER, {"input": {"email": "ada@example.com", "password": "short"}}))
    [error] = body["register"]["errors"]
    assert (error["code"], error["field"]) == ("PASSWORD_TOO_SHORT", "password")
    assert await User.all().count() == 0


async def test_duplicate_email_is_refused_whatever_its_case(client):
    await sign_up(client, email="ada@example.com")
    body = data_of(await gql(client, REGISTER, {"input": {"email": "ADA@example.com", "password": "another password"}}))
    [error] = body["register"]["errors"]
    assert error["code"] == "EMAIL_TAKEN"
    assert await User.all().count() == 1


async def test_login_with_device_info(client):
    await sign_up(client)
    variables = {
        "input": {
            "email": "ada@example.com",
            "password": "correct horse battery",
            "device": {"platform": "android", "appVersion": "1.0.0"},
        }
    }
    payload = data_of(await gql(client, LOGIN, variables))["login"]
    assert payload["errors"] == []
    assert payload["session"] == {"platform": "android", "appVersion": "1.0.0", "current": True}
    assert data_of(await gql(client, VIEWER, token=payload["token"]))["viewer"]["email"] == "ada@example.com"


async def test_unknown_email_and_wrong_password_get_the_same_answer(client):
    await sign_up(client)
    wrong_password = data_of(
        await gql(client, LOGIN, {"input": {"email": "ada@example.com", "password": "not the password"}})
    )
    unknown_email = data_of(
        await gql(client, LOGIN, {"input": {"email": "bob@example.com", "password": "not the password"}})
    )
    assert wrong_password == unknown_email
    assert wrong_password["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password["login"]["token"] is None


async def test_unknown_token_is_rejected_with_401(client):
    body = await gql(client, VIEWER, token="vgs_not-a-real-token", expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_session_is_rejected(client):
    token = await sign_up(client)
    await Session.filter(token_hash=hash_token(token)).update(expires_at=now() - timedelta(seconds=1))
    body = await gql(client, VIEWER, token=token, expect_status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_logout_revokes_only_this_session(client):
    first = await sign_up(client)
    second = data_of(
        await gql(client, LOGIN, {"input": {"email": "ada@example.com", "password": "correct horse battery"}})
    )["login"]["token"]
    assert data_of(await gql(client, LOGOUT, {"everywhere": False}, token=first))["logout"]["revokedSessions"] == 1
    await gql(client, VIEWER, token=first, expect_status=401)
    assert data_of(await gql(client, VIEWER, token=second))["viewer"]["email"] == "ada@example.com"


async def test_logout_everywhere_revokes_every_session(client):
    first = await sign_up(client)
    second = data_of(
        await gql(client, LOGIN, {"input": {"email": "ada@example.com", "password": "correct horse battery"}})
    )["login"]["token"]
    assert data_of(await gql(client, LOGOUT, {"everywhere": True}, token=second))["logout"]["revokedSessions"] == 2
    await gql(client, VIEWER, token=first, expect_status=401)
    await gql(client, VIEWER, token=second, expect_status=401)


async def test_logout_when_signed_out_is_unauthenticated(client):
    body = await gql(client, LOGOUT, {"everywhere": False})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_anonymous_sessions_are_separate_people(client):
    variables = {"device": {"platform": "ios", "appVersion": "2.3.4"}}
    first = data_of(await gql(client, ANONYMOUS, variables))["startAnonymousSession"]
    second = data_of(await gql(client, ANONYMOUS, variables))["startAnonymousSession"]
    assert first["viewer"]["isAnonymous"] is True and first["viewer"]["email"] is None
    assert first["session"] == {"platform": "ios", "appVersion": "2.3.4"}
    assert first["viewer"]["id"] != second["viewer"]["id"]


async def test_anonymous_install_registers_and_keeps_its_account(client):
    anon = data_of(await gql(client, ANONYMOUS))["startAnonymousSession"]
    payload = data_of(
        await gql(
            client,
            REGISTER,
            {"input": {"email": "ada@example.com", "password": "correct horse battery"}},
            token=anon["token"],
        )
    )["register"]
    assert payload["errors"] == []
    assert payload["viewer"]["id"] == anon["viewer"]["id"]
    assert payload["viewer"]["isAnonymous"] is False
    # the anonymous session keeps working and now belongs to the registered account
    viewer = data_of(await gql(client, VIEWER, token=anon["token"]))["viewer"]
    assert viewer["email"] == "ada@example.com"
    assert await User.all().count() == 1


async def test_registered_user_cannot_register_again(client):
    token = await sign_up(client)
    body = data_of(
        await gql(
            client,
            REGISTER,
            {"input": {"email": "other@example.com", "password": "correct horse battery"}},
            token=token,
        )
    )
    assert body["register"]["errors"][0]["code"] == "ALREADY_REGISTERED"
    assert await User.all().count() == 1


async def test_viewer_lists_own_sessions_and_marks_the_current_one(client):
    token = await sign_up(client)
    await gql(
        client,
        LOGIN,
        {"input": {"email": "ada@example.com", "password": "correct horse battery", "device": {"platform": "web"}}},
    )
    edges = data_of(await gql(client, SESSIONS, token=token))["viewer"]["sessions"]["edges"]
    assert len(edges) == 2
    assert sorted(e["node"]["current"] for e in edges) == [False, True]
