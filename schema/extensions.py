"""Schema extensions: error policy and per-operation DataLoaders."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from services.errors import ServiceError
from services.logs import request_id

log = logging.getLogger("vidgraph.errors")

UNEXPECTED = "Unexpected error."


def is_unexpected(error: GraphQLError) -> bool:
    """Parse, validation and expected service errors are the client's to see; anything else is not."""
    original = error.original_error
    return original is not None and not isinstance(original, (ServiceError, GraphQLError))


class ErrorPolicy(MaskErrors):
    """Expected errors keep their message and gain `extensions.code`; others are logged and masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=UNEXPECTED)

    def _process_result(self, result: object) -> None:
        # as MaskErrors does, without its isinstance check against a Protocol, which costs more
        # than the rest of the hook on every event of every subscription
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in errors:
            original = error.original_error
            if isinstance(original, ServiceError):
                error.extensions = {**(error.extensions or {}), "code": original.code.value}
                if original.field:
                    error.extensions["field"] = original.field
            elif (original is None or isinstance(original, GraphQLError)) and not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
            processed.append(error)
        return super()._process_errors(processed)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = request_id.get()
        log.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or ()) or "operation",
            exc_info=error.original_error,
            extra={"operation": self.execution_context.operation_name},
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": rid}
        return masked


class FreshLoaders(SchemaExtension):
    """Each operation starts with empty DataLoaders, whatever its transport."""

    def on_operation(self) -> Iterator[None]:
        self.execution_context.context.start_operation()
        yield
