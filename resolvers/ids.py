"""Raw ids from global IDs: anything that is not a UUID cannot name a row."""

from __future__ import annotations

import uuid


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None
