"""Expected failures, as values with a code, raised by services and shown to clients as-is."""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    # input and identity
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMAIL = "INVALID_EMAIL"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"  # noqa: S105
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"  # noqa: S105
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_ID = "INVALID_ID"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    # video sources and analysis (design §4)
    INVALID_URL = "INVALID_URL"
    UNSUPPORTED_SOURCE = "UNSUPPORTED_SOURCE"
    VIDEO_UNAVAILABLE = "VIDEO_UNAVAILABLE"
    PRIVATE_VIDEO = "PRIVATE_VIDEO"
    AGE_RESTRICTED = "AGE_RESTRICTED"
    LIVE_NOT_ENDED = "LIVE_NOT_ENDED"
    BLOCKED_BY_SOURCE = "BLOCKED_BY_SOURCE"
    NO_TRANSCRIPT = "NO_TRANSCRIPT"
    TOO_LONG = "TOO_LONG"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    INVALID_FILE = "INVALID_FILE"
    LLM_ERROR = "LLM_ERROR"
    NETWORK_ERROR = "NETWORK_ERROR"
    CANCELLED = "CANCELLED"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ServiceError(Exception):
    """An expected failure: the client sees `code`, `field` and `message` unchanged."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ServiceError({self.code.value}, {self.message!r}, field={self.field!r})"
