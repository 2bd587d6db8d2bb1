"""Expected failures as the client sees them: a code, the input field at fault, and a message."""

from __future__ import annotations

import strawberry

from services.errors import ErrorCode as ServiceErrorCode
from services.errors import ServiceError

ErrorCode = strawberry.enum(ServiceErrorCode, name="ErrorCode", description="Why an operation failed.")


@strawberry.type(description="An expected failure: nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="What went wrong, for programs.")  # type: ignore[valid-type]
    field: str | None = strawberry.field(description="The input field at fault, if one is.")
    message: str = strawberry.field(description="What went wrong, for people.")

    @classmethod
    def from_service(cls, error: ServiceError) -> UserError:
        return cls(code=error.code, field=error.field, message=error.message)


def expected_errors(error: ServiceError) -> list[UserError]:
    """An expected failure as a payload's errors; a missing sign-in stays a top-level error."""
    if error.code is ServiceErrorCode.UNAUTHENTICATED:
        raise error
    return [UserError.from_service(error)]
