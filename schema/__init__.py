"""The GraphQL schema: root types composed from each domain's pieces."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from schema.accounts import AccountMutations
from schema.analyses import AnalysisMutations, AnalysisSubscriptions
from schema.chat import ChatMutations, ChatSubscriptions
from schema.context import Info
from schema.extensions import ErrorPolicy, FreshLoaders
from schema.library_mutations import LibraryMutations
from schema.nodes import resolve_node
from schema.observability import observability_extensions
from schema.protection import QueryLimits, RateLimitQueries, protection_extensions
from schema.search import SearchQueries
from schema.shared_events import SharedEventExecutor
from schema.templates import TemplateMutations
from schema.users import User
from schema.videos import Channel, Highlight
from services.settings import Settings
from services.tracing import Tracing


@strawberry.type
class Query(SearchQueries, RateLimitQueries):
    @strawberry.field(description="Fetch any object by its global ID; null when it is not yours or does not exist.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        return await resolve_node(info, id)

    @strawberry.field(description="The signed-in person; null when signed out.")
    def viewer(self, info: Info) -> User | None:
        viewer = info.context.viewer
        return User.from_model(viewer) if viewer is not None else None


@strawberry.type
class Mutation(AccountMutations, AnalysisMutations, LibraryMutations, ChatMutations, TemplateMutations):
    pass


@strawberry.type
class Subscription(AnalysisSubscriptions, ChatSubscriptions):
    pass


class VidgraphSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """ErrorPolicy logs unexpected errors with their context; here the errors that happen
        before any extension sees the operation (syntax, variables) get their code too."""
        for error in errors:
            if not (error.extensions or {}).get("code"):
                code = (
                    "GRAPHQL_PARSE_FAILED" if error.message.startswith("Syntax Error") else "GRAPHQL_VALIDATION_FAILED"
                )
                error.extensions = {**(error.extensions or {}), "code": code}


def build_schema(
    settings: Settings | None = None, limits: QueryLimits | None = None, tracing: Tracing | None = None
) -> strawberry.Schema:
    settings = settings or Settings.from_env()
    return VidgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Channel, Highlight],
        execution_context_class=SharedEventExecutor,
        extensions=[
            *observability_extensions(tracing),  # first: outermost, so they see every outcome
            ErrorPolicy,
            FreshLoaders,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            *protection_extensions(settings, limits),
        ],
    )
