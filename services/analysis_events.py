"""The processing log of an analysis: every event is stored, then published to subscribers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError

from models import AnalysisEvent, AnalysisStatus

if TYPE_CHECKING:
    from services.pubsub import Broker


def channel_of(analysis_id: str) -> str:
    return f"analysis:{analysis_id}"


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a job as subscribers receive it."""

    analysis_id: str
    sequence: int
    kind: str  # "state" | "stage" | "progress" | "highlight" | "final"
    status: str
    progress: float
    message: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.kind == "final"

    def as_message(self) -> dict[str, Any]:
        message = {f.name: getattr(self, f.name) for f in fields(self)}
        message["payload"] = dict(self.payload)
        return message

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Event:
        return cls(**{k: message[k] for k in cls.__slots__ if k in message})


async def record_event(
    broker: Broker,
    *,
    analysis_id: str,
    kind: str,
    status: AnalysisStatus,
    progress: float,
    message: str = "",
    payload: dict[str, Any] | None = None,
    expected_sequence: int | None = None,
) -> Event:
    """Store the event, then publish it. `expected_sequence` saves a read when the caller (a job
    holding its lease, the only writer) knows the next number; a wrong guess costs a retry."""
    # the sequence is one past the last stored; a concurrent writer loses the unique index race
    # and simply takes the next number
    last_error: IntegrityError | None = None
    for _ in range(5):
        if expected_sequence is not None:
            sequence, expected_sequence = expected_sequence, None
        else:
            sequence = await last_sequence(analysis_id) + 1
        try:
            await AnalysisEvent.create(
                analysis_id=analysis_id,
                sequence=sequence,
                kind=kind,
                status=status,
                progress=progress,
                message=message,
                payload=payload or {},
            )
            break
        except IntegrityError as exc:
            last_error = exc
            continue
    else:
        raise RuntimeError(f"could not number an event of analysis {analysis_id}") from last_error
    event = Event(analysis_id, sequence, kind, status.value, progress, message, payload or {})
    await broker.publish(channel_of(analysis_id), event.as_message())
    return event


async def last_sequence(analysis_id: str) -> int:
    last = await AnalysisEvent.filter(analysis_id=analysis_id).order_by("-sequence").first()
    return last.sequence if last else 0


async def events_after(analysis_id: str, sequence: int) -> list[Event]:
    rows = await AnalysisEvent.filter(analysis_id=analysis_id, sequence__gt=sequence).order_by("sequence")
    return [
        Event(analysis_id, r.sequence, r.kind, r.status.value, r.progress, r.message, r.payload or {}) for r in rows
    ]
