from __future__ import annotations

import base64

from strawberry.relay import GlobalID

from tests.helpers import data_of, gql, sign_up

NODE = "query($id: ID!) { node(id: $id) { __typename id ... on User { email } ... on Session { current } } }"
MY_IDS = "{ viewer { id sessions(first: 1) { edges { node { id } } } } }"


async def _ids(client, token):
    viewer = data_of(await gql(client, MY_IDS, token=token))["viewer"]
    return viewer["id"], viewer["sessions"]["edges"][0]["node"]["id"]


async def test_node_returns_my_own_objects(client):
    token = await sign_up(client)
    user_id, session_id = await _ids(client, token)
    user = data_of(await gql(client, NODE, {"id": user_id}, token=token))["node"]
    assert user == {"__typename": "User", "id": user_id, "email": "ada@example.com"}
    session = data_of(await gql(client, NODE, {"id": session_id}, token=token))["node"]
    assert session == {"__typename": "Session", "id": session_id, "current": True}


async def test_another_users_objects_answer_like_missing_ones(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    ada_user, ada_session = await _ids(client, ada)
    missing = str(GlobalID("Session", "00000000-0000-0000-0000-000000000000"))
    for node_id in (ada_user, ada_session, missing):
        assert data_of(await gql(client, NODE, {"id": node_id}, token=bob)) == {"node": None}
        assert data_of(await gql(client, NODE, {"id": node_id})) == {"node": None}


async def test_node_never_returns_another_type(client):
    token = await sign_up(client)
    user_id, session_id = await _ids(client, token)
    # a session's raw id presented as a User, and a user's as a Session
    swapped = [
        str(GlobalID("User", GlobalID.from_id(session_id).node_id)),
        str(GlobalID("Session", GlobalID.from_id(user_id).node_id)),
        str(GlobalID("Nonsense", GlobalID.from_id(user_id).node_id)),
    ]
    for node_id in swapped:
        assert data_of(await gql(client, NODE, {"id": node_id}, token=token)) == {"node": None}


async def test_malformed_ids_answer_null(client):
    token = await sign_up(client)
    for node_id in ("", "not base64!", base64.b64encode(b"no-colon").decode(), str(GlobalID("Session", "not-a-uuid"))):
        assert data_of(await gql(client, NODE, {"id": node_id}, token=token)) == {"node": None}


async def test_another_user_cannot_revoke_my_session(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    _, ada_session = await _ids(client, ada)
    body = data_of(
        await gql(
            client, "mutation($id: ID!) { revokeSession(id: $id) { revokedSessions } }", {"id": ada_session}, token=bob
        )
    )
    assert body["revokeSession"]["revokedSessions"] == 0
    assert data_of(await gql(client, "{ viewer { email } }", token=ada))["viewer"]["email"] == "ada@example.com"
