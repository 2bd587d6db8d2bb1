"""The LLM analyzer through the real `openai` client against the local stub server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.analysis_prompts import LENSES
from services.chunking import chunk_segments
from services.errors import ErrorCode, ServiceError
from services.llm import LLMSettings, Usage, complete_json, make_client, stream_chat
from services.llm_analyzer import LLMAnalyzer
from services.media import (
    AnalysisInput,
    AnalysisResult,
    ChannelInfo,
    ChapterSpec,
    ProgressUpdate,
    Segment,
    VideoMetadata,
)
from services.settings import Settings
from services.tokens import count_tokens
from tests.llm_stub import Delay, Fail, LLMStub, Reply, default_reply

API_KEY = "sk-test-SECRET1234567890"
TOPICS = ["gears", "levers", "pulleys", "springs", "bearings", "axles", "cams", "ratchets"]


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as server:
        yield server


class Progress:
    def __init__(self) -> None:
        self.updates: list[ProgressUpdate] = []

    async def __call__(self, update: ProgressUpdate) -> None:
        self.updates.append(update)


def transcript(count: int, *, step: float = 6.0) -> list[Segment]:
    return [
        Segment(
            i * step,
            i * step + step - 1,
            f"In part {i} we see how {TOPICS[i % len(TOPICS)]} move the load number {i} along the frame.",
        )
        for i in range(count)
    ]


def video(
    segments: list[Segment], *, duration: float | None = None, chapters: tuple[ChapterSpec, ...] = ()
) -> AnalysisInput:
    metadata = VideoMetadata(
        source_id="dQw4w9WgXcQ",
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        title="Simple machines",
        duration=duration if duration is not None else segments[-1].end,
        channel=ChannelInfo(source_id="UC123", name="Workshop"),
        chapters=chapters,
    )
    chunks = chunk_segments(segments=segments, boundaries=[c.start for c in chapters])
    return AnalysisInput(metadata=metadata, segments=tuple(segments), chunks=tuple(chunks), language="en")


async def analyze(
    stub: LLMStub, data: AnalysisInput, progress: Progress | None = None, **settings: Any
) -> AnalysisResult:
    options: dict[str, Any] = {"model": "test-model", "max_retries": 2, "timeout": 5.0, **settings}
    llm = LLMSettings(api_key=API_KEY, base_url=stub.base_url, **options)
    async with make_client(llm) as client:
        analyzer = LLMAnalyzer(client=client, settings=llm)
        return await analyzer.analyze(data=data, on_progress=progress or Progress())


def on_a_segment(seconds: float, segments: list[Segment]) -> bool:
    return any(s.start == seconds for s in segments)


def prompt_tokens(body: dict[str, Any]) -> int:
    return sum(count_tokens(str(m.get("content") or "")) + 4 for m in body["messages"]) + 3


async def test_short_video_gets_summary_chapters_and_highlights_in_one_call(stub: LLMStub) -> None:
    segments = transcript(20)
    stub.script = lambda body: Reply(default_reply(body), prompt_tokens=1200, completion_tokens=300)
    progress = Progress()

    result = await analyze(stub, video(segments), progress)

    assert len(stub.chat_requests) == 1
    assert stub.chat_requests[0].schema_name == "video_analysis"
    assert stub.chat_requests[0].body["model"] == "test-model"
    assert "[00:06] In part 1" in stub.chat_requests[0].prompt
    assert "In part 0" in result.summary
    assert result.chapters[0].start == 0.0
    assert result.chapters[-1].end == segments[-1].end
    assert all(a.end == b.start for a, b in zip(result.chapters, result.chapters[1:], strict=False))
    assert result.highlights
    for highlight in result.highlights:
        assert on_a_segment(highlight.start, segments)
        assert highlight.start < highlight.end <= segments[-1].end
        assert highlight.agent_name in LENSES
    assert (result.prompt_tokens, result.completion_tokens, result.model) == (1200, 300, "test-model")
    assert [u.highlight for u in progress.updates if u.highlight] == result.highlights
    assert progress.updates[-1].done == progress.updates[-1].total


async def test_uploader_chapters_are_kept_and_only_summarised(stub: LLMStub) -> None:
    segments = transcript(30)
    own = (ChapterSpec(0.0, 60.0, "Warm-up"), ChapterSpec(60.0, 179.0, "The real work"))

    result = await analyze(stub, video(segments, chapters=own))

    assert "# [01:00] The real work" in stub.chat_requests[0].prompt
    assert [(c.start, c.end, c.title) for c in result.chapters] == [
        (0.0, 60.0, "Warm-up"),
        (60.0, 179.0, "The real work"),
    ]
    assert [c.summary for c in result.chapters] == ["About Warm-up.", "About The real work."]


async def test_long_transcript_is_mapped_in_several_calls_within_the_context(stub: LLMStub) -> None:
    segments = transcript(600)  # an hour
    progress = Progress()

    result = await analyze(stub, video(segments), progress, context_tokens=4000)

    requests = stub.chat_requests
    maps = [r for r in requests if r.schema_name == "transcript_notes" and "Transcript:" in r.prompt]
    assert len(maps) > 3
    assert requests[-1].schema_name == "video_analysis"
    for request in requests:
        assert prompt_tokens(request.body) + request.body["max_tokens"] <= 4000
    shown = "\n".join(r.prompt for r in maps)
    assert all(f"] {s.text}" in shown for s in segments)
    done = [u.done for u in progress.updates if u.highlight is None]
    assert done[: len(maps)] == list(range(1, len(maps) + 1))
    assert progress.updates[-1].done == progress.updates[-1].total == len(maps) + 1
    assert any(u.highlight for u in progress.updates)
    assert result.summary
    assert 3 <= len(result.highlights) <= 10
    assert all(on_a_segment(h.start, segments) for h in result.highlights)
    assert result.notes


async def test_notes_too_long_for_one_reduce_are_condensed_first(stub: LLMStub) -> None:
    def wordy_map(body: dict[str, Any]) -> str | None:
        prompt = "\n".join(m["content"] for m in body["messages"])
        if "Transcript:" not in prompt or "transcript_notes" not in json.dumps(body.get("response_format")):
            return None
        lines = [line for line in prompt.splitlines() if line.startswith("[")]
        notes = [{"time": line[1:6], "text": line[8:] + " and more detail"} for line in lines]
        return json.dumps({"notes": notes, "highlights": []})

    stub.script = wordy_map
    segments = transcript(600)

    result = await analyze(stub, video(segments), context_tokens=4000)

    condensed = [
        r for r in stub.chat_requests if r.schema_name == "transcript_notes" and "Notes:" in r.prompt
    ]
    assert condensed
    for request in stub.chat_requests:
        assert prompt_tokens(request.body) + request.body["max_tokens"] <= 4000
    assert result.summary
    assert result.highlights


async def test_malformed_json_once_then_valid_succeeds(stub: LLMStub) -> None:
    stub.queue(Reply('{"summary": "cut off', completion_tokens=7))

    result = await analyze(stub, video(transcript(20)))

    assert len(stub.chat_requests) == 2
    assert "not valid" in stub.chat_requests[1].prompt
    assert result.highlights
    assert result.completion_tokens > 7


async def test_json_of_the_wrong_shape_is_retried(stub: LLMStub) -> None:
    stub.queue({"summary": ["not", "a", "string"], "chapters": []})

    result = await analyze(stub, video(transcript(20)))

    assert len(stub.chat_requests) == 2
    assert result.summary


async def test_always_malformed_json_is_an_llm_error(stub: LLMStub) -> None:
    stub.script = lambda body: "Sure! Here is the analysis you asked for."

    with pytest.raises(ServiceError) as failure:
        await analyze(stub, video(transcript(20)))

    assert failure.value.code is ErrorCode.LLM_ERROR
    assert len(stub.chat_requests) == 2


async def test_endpoint_without_json_schema_gets_a_json_object_request(stub: LLMStub) -> None:
    stub.queue(Fail(400, "response_format.type 'json_schema' is not supported"))

    result = await analyze(stub, video(transcript(20)))

    first, second = stub.chat_requests
    assert first.body["response_format"]["type"] == "json_schema"
    assert second.body["response_format"] == {"type": "json_object"}
    assert '"highlights"' in second.prompt
    assert result.highlights


async def test_rate_limit_is_retried_after_the_retry_after_delay(stub: LLMStub) -> None:
    stub.queue(Fail(429, "slow down", retry_after=0.3))

    result = await analyze(stub, video(transcript(20)))

    first, second = stub.chat_requests
    assert second.received_at - first.received_at >= 0.3
    assert result.summary


async def test_server_errors_until_retries_run_out_are_an_llm_error(stub: LLMStub) -> None:
    stub.script = lambda body: Fail(500, "boom", retry_after=0.01)

    with pytest.raises(ServiceError) as failure:
        await analyze(stub, video(transcript(20)), max_retries=2)

    assert failure.value.code is ErrorCode.LLM_ERROR
    assert "500" in failure.value.message
    assert len(stub.chat_requests) == 3


async def test_service_unavailable_then_success_is_retried(stub: LLMStub) -> None:
    stub.queue(Fail(503, "overloaded", retry_after=0.01), Fail(503, "overloaded", retry_after=0.01))

    result = await analyze(stub, video(transcript(20)), max_retries=2)

    assert len(stub.chat_requests) == 3
    assert result.summary


async def test_timeout_is_retried(stub: LLMStub) -> None:
    stub.queue(Delay(3.0))

    result = await analyze(stub, video(transcript(20)), timeout=0.3, max_retries=1)

    assert len(stub.chat_requests) == 2
    assert result.summary


async def test_timeouts_until_retries_run_out_are_an_llm_error(stub: LLMStub) -> None:
    stub.script = lambda body: Delay(3.0)

    with pytest.raises(ServiceError) as failure:
        await analyze(stub, video(transcript(20)), timeout=0.3, max_retries=1)

    assert failure.value.code is ErrorCode.LLM_ERROR
    assert "timed out" in failure.value.message
    assert len(stub.chat_requests) == 2


async def test_hallucinated_timestamps_are_snapped_or_dropped(stub: LLMStub) -> None:
    # Lines at 0:00-0:45 and 2:00-2:55, silence in between; the video lasts 3:00.
    segments = [Segment(float(t), t + 4.0, f"line {t}") for t in [*range(0, 50, 5), *range(120, 180, 5)]]

    def highlight(start: str, end: str, title: str) -> dict[str, str]:
        return {"start": start, "end": end, "title": title, "description": "d", "lens": "insight"}

    stub.queue(
        {
            "summary": "A video.",
            "chapters": [
                {"start": "00:01", "title": "Start", "summary": ""},
                {"start": "02:02", "title": "Second half", "summary": ""},
                {"start": "01:25", "title": "In the silence", "summary": ""},
                {"start": "09:00", "title": "After the end", "summary": ""},
            ],
            "highlights": [
                highlight("00:11", "00:19", "Inside a line"),
                highlight("01:58", "02:09", "Just before a line"),
                highlight("01:25", "01:40", "Between lines"),
                highlight("04:10", "04:30", "Beyond the end"),
                highlight("00:30", "00:10", "Ends before it starts"),
                highlight("about a minute", "", "Not a time"),
            ],
        }
    )

    result = await analyze(stub, video(segments, duration=180.0))

    assert [(h.title, h.start, h.end) for h in result.highlights] == [
        ("Inside a line", 10.0, 19.0),
        ("Just before a line", 120.0, 129.0),
        ("Ends before it starts", 30.0, 49.0),
    ]
    assert [(c.title, c.start, c.end) for c in result.chapters] == [
        ("Start", 0.0, 120.0),
        ("Second half", 120.0, 180.0),
    ]


async def test_api_key_never_appears_in_an_error(stub: LLMStub) -> None:
    echo = f"Incorrect API key provided: {API_KEY}"
    for failure in (Fail(401, echo), Fail(404, f"model not found for key {API_KEY}"), Fail(500, echo)):
        stub.script = lambda body, failure=failure: failure

        with pytest.raises(ServiceError) as raised:
            await analyze(stub, video(transcript(20)), max_retries=0)

        assert raised.value.code is ErrorCode.LLM_ERROR
        assert "SECRET" not in raised.value.message
        assert "SECRET" not in repr(raised.value)
        assert raised.value.__cause__ is None


async def test_rejected_key_is_not_retried(stub: LLMStub) -> None:
    stub.script = lambda body: Fail(401, "bad key")

    with pytest.raises(ServiceError, match="rejected the API key"):
        await analyze(stub, video(transcript(20)), max_retries=3)

    assert len(stub.chat_requests) == 1


async def test_settings_key_names_the_model_and_prompt_version(stub: LLMStub) -> None:
    small = LLMSettings(api_key=API_KEY, base_url=stub.base_url, model="small")
    async with make_client(small) as client:
        first = LLMAnalyzer(client=client, settings=small)
        again = LLMAnalyzer(client=client, settings=LLMSettings(api_key="other", model="small"))
        other = LLMAnalyzer(client=client, settings=LLMSettings(api_key=API_KEY, model="large"))

        assert first.settings_key == again.settings_key != other.settings_key
        assert "small" in first.settings_key


async def test_complete_json_accumulates_usage_over_a_retry(stub: LLMStub) -> None:
    stub.queue(Reply("nope", prompt_tokens=10, completion_tokens=1), Reply('{"ok": true}', 12, 3))
    llm = LLMSettings(api_key=API_KEY, base_url=stub.base_url)
    async with make_client(llm) as client:
        data, usage = await complete_json(
            client=client,
            model="m",
            messages=[{"role": "user", "content": "Say ok."}],
            schema_name="ok",
            json_schema={"type": "object"},
        )

    assert data == {"ok": True}
    assert usage == Usage(prompt_tokens=22, completion_tokens=4)


async def test_stream_chat_yields_text_deltas_then_usage(stub: LLMStub) -> None:
    stub.queue(Reply("Gears turn at 02:15 and levers lift.", prompt_tokens=30, completion_tokens=9))
    llm = LLMSettings(api_key=API_KEY, base_url=stub.base_url)
    async with make_client(llm) as client:
        parts = [
            part
            async for part in stream_chat(
                client=client, model="m", messages=[{"role": "user", "content": "What turns?"}]
            )
        ]

    *deltas, usage = parts
    assert len(deltas) > 1
    assert "".join(str(d) for d in deltas) == "Gears turn at 02:15 and levers lift."
    assert usage == Usage(prompt_tokens=30, completion_tokens=9)
    assert stub.chat_requests[0].body["stream_options"] == {"include_usage": True}


async def test_json_wrapped_in_a_markdown_fence_is_accepted(stub: LLMStub) -> None:
    stub.queue('```json\n{"ok": true}\n```')
    llm = LLMSettings(api_key=API_KEY, base_url=stub.base_url)
    async with make_client(llm) as client:
        data, _ = await complete_json(
            client=client,
            model="m",
            messages=[{"role": "user", "content": "Say ok."}],
            schema_name="ok",
            json_schema={"type": "object"},
        )

    assert data == {"ok": True}
    assert len(stub.chat_requests) == 1


def test_llm_settings_come_from_the_app_settings() -> None:
    assert LLMSettings.from_settings(Settings()) is None
    hosted = LLMSettings.from_settings(Settings(openai_api_key="sk-x", openai_model="gpt-4o"))
    local = LLMSettings.from_settings(Settings(openai_base_url="http://127.0.0.1:11434/v1"))

    assert hosted is not None and (hosted.api_key, hosted.model) == ("sk-x", "gpt-4o")
    assert local is not None and local.api_key is None and local.base_url == "http://127.0.0.1:11434/v1"


async def test_reply_cut_at_the_token_limit_is_retried_asking_for_less(stub: LLMStub) -> None:
    stub.queue(Reply('{"notes": [{"time": "00:01", "te', finish_reason="length"), '{"ok": true}')
    llm = LLMSettings(api_key=API_KEY, base_url=stub.base_url)
    async with make_client(llm) as client:
        data, _ = await complete_json(
            client=client,
            model="m",
            messages=[{"role": "user", "content": "Say ok."}],
            schema_name="ok",
            json_schema={"type": "object"},
            max_tokens=50,
        )

    assert data == {"ok": True}
    assert "cut off at the length limit" in stub.chat_requests[1].prompt
    assert stub.chat_requests[1].body["max_tokens"] == 50
