"""Automatic persisted queries, as Apollo clients speak them.

A client first sends only `extensions.persistedQuery = {version: 1, sha256Hash}`. An unknown hash
answers `PersistedQueryNotFound` with HTTP 200, and the client sends the document with its hash; the
hash is checked against the document and, once the document has parsed and validated, stored. From
then on the hash alone runs it, by POST or (queries only) by GET.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from services.persisted_queries import sha256_of

if TYPE_CHECKING:
    from strawberry.http import GraphQLRequestData

    from services.persisted_queries import PersistedQueries

VERSION = 1
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(GraphQLError):
    """A persisted-query request that cannot run, with the HTTP status Apollo answers it with."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, extensions={"code": code})
        self.status = status


def not_found() -> PersistedQueryError:
    # Apollo clients look for this message or code, and retry with the document; a 4xx status
    # would make some of them give up instead
    return PersistedQueryError("PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND", status=200)


@dataclass(frozen=True, slots=True)
class Resolution:
    request: GraphQLRequestData
    register: str | None = None
    """The hash to store the document under once it has parsed and validated."""


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The hash a request names, None when it names none; malformed requests are refused."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != VERSION:
        raise PersistedQueryError("Unsupported persisted query version", code="PERSISTED_QUERY_NOT_SUPPORTED",
                                  status=400)
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not SHA256_HEX.fullmatch(sha256_hash.lower()):
        raise PersistedQueryError("`persistedQuery.sha256Hash` must be a SHA-256 digest in hex",
                                  code="BAD_REQUEST", status=400)
    return sha256_hash.lower()


async def resolve(request: GraphQLRequestData, store: PersistedQueries) -> Resolution:
    """The request with its document filled in from the store, or checked against its hash."""
    sha256_hash = requested_hash(request.extensions)
    if sha256_hash is None:
        return Resolution(request)
    if request.query is None:
        query = await store.get(sha256_hash)
        if query is None:
            raise not_found()
        return Resolution(dataclasses.replace(request, query=query))
    # a document registered under someone else's hash would hijack every client that sends it
    if sha256_of(request.query) != sha256_hash:
        raise PersistedQueryError("provided sha does not match query", code="PERSISTED_QUERY_HASH_MISMATCH",
                                  status=400)
    return Resolution(request, register=sha256_hash)
