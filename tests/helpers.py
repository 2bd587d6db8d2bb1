"""What most tests share: sending GraphQL as a client would, and signing people up."""

from __future__ import annotations

import socket
from typing import Any

import httpx

REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) {
    token
    viewer { id email role isAnonymous }
    errors { code field message }
  }
}
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    expect_status: int = 200,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == expect_status, response.text
    body: dict[str, Any] = response.json()
    return body


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The response's data, failing the test if it carries any error."""
    assert not body.get("errors"), body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


async def sign_up(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = "correct horse battery"
) -> str:
    data = data_of(await gql(client, REGISTER, {"input": {"email": email, "password": password}}))
    assert data["register"]["errors"] == []
    token: str = data["register"]["token"]
    return token


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
