"""Templates: validation, CRUD, own templates over defaults, and content generation."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from models import (
    Analysis,
    AnalysisStatus,
    Channel,
    Chapter,
    GeneratedContent,
    Highlight,
    LibraryEntry,
    Role,
    Template,
    User,
    Video,
)
from services import content, default_templates, templates
from services.errors import ErrorCode, ServiceError
from services.llm import LLMSettings, make_client
from services.templates import TemplateVariable
from tests.llm_stub import LLMStub, Reply


async def test_validation_refuses_unknown_variables_with_their_line() -> None:
    with pytest.raises(ServiceError) as failure:
        await templates.validate("{{ title }}\n{% if false %}{{ call_to_acton }}{% endif %}", [])
    assert failure.value.code is ErrorCode.TEMPLATE_ERROR
    assert failure.value.message.startswith("Line 2: unknown variable 'call_to_acton'")
    await templates.validate("{{ title }} {{ call_to_action }}", [TemplateVariable("call_to_action")])


@pytest.fixture
def stub() -> Iterator[LLMStub]:
    with LLMStub() as server:
        yield server


async def make_user(email: str, *, role: Role = Role.USER) -> User:
    return await User.create(email=email, role=role)


async def analysed_video(user: User, *, status: AnalysisStatus = AnalysisStatus.COMPLETED) -> Video:
    channel = await Channel.create(source_id=f"UC{user.id.hex[:10]}", name="Ada Devlin")
    video = await Video.create(
        youtube_id="cmPl3rTk9aE",
        url="https://www.youtube.com/watch?v=cmPl3rTk9aE",
        title="Building a Compiler in Python",
        duration=742.0,
        channel=channel,
        tags=["compiler", "python", "programming languages"],
    )
    analysis = await Analysis.create(
        video=video,
        settings_key="k",
        analyzer="local:1",
        status=status,
        progress=1.0,
        summary="A compiler is a pipeline of small passes. The parser builds a tree from tokens. "
        "In the end, testing each pass alone keeps the whole compiler simple.",
    )
    titles = ["Tokens come first", "Parsing builds the tree", "Emitting bytecode", "Testing each pass"]
    await Highlight.bulk_create(
        [
            Highlight(
                analysis=analysis,
                position=p,
                start=75.5 + p * 120,
                end=100.0 + p * 120,
                title=t,
                description=f"Why {t.lower()} matters.",
                agent_name="key-point",
            )
            for p, t in enumerate(titles)
        ]
    )
    await Chapter.bulk_create(
        [
            Chapter(
                analysis=analysis,
                position=p,
                start=p * 300.0,
                end=p * 300.0 + 300,
                title=f"Part {p}",
                summary=f"About part {p}.",
            )
            for p in range(3)
        ]
    )
    await LibraryEntry.create(user=user, video=video, analysis=analysis)
    return video


async def test_own_templates_are_created_updated_and_deleted(asgi_app) -> None:
    ada = await make_user("ada@example.com")
    made = await templates.create_template(user=ada, template_type="LinkedIn ", name="Short", content="{{ hook }}")
    assert (made.template_type, made.template_name) == ("linkedin", "Short")
    changed = await templates.update_template(
        user=ada,
        template_id=str(made.id),
        content="{{ hook }} {{ ask }}",
        variables=[TemplateVariable("ask", "A question")],
    )
    assert changed.content == "{{ hook }} {{ ask }}" and changed.variables == [
        {"name": "ask", "description": "A question"}
    ]
    await templates.delete_template(user=ada, template_id=str(made.id))
    assert await Template.filter(user_id=ada.id).count() == 0


async def test_names_are_unique_per_person_and_type(asgi_app) -> None:
    ada, bob = await make_user("ada@example.com"), await make_user("bob@example.com")
    first = await templates.create_template(user=ada, template_type="blog", name="Mine", content="{{ title }}")
    with pytest.raises(ServiceError) as failure:
        await templates.create_template(user=ada, template_type="blog", name="Mine", content="{{ url }}")
    assert (failure.value.code, failure.value.field) == (ErrorCode.CONFLICT, "name")
    # the same name is free for another type and for another person
    await templates.create_template(user=ada, template_type="linkedin", name="Mine", content="{{ title }}")
    await templates.create_template(user=bob, template_type="blog", name="Mine", content="{{ title }}")
    other = await templates.create_template(user=ada, template_type="blog", name="Other", content="{{ title }}")
    with pytest.raises(ServiceError) as renamed:
        await templates.update_template(user=ada, template_id=str(other.id), name="Mine")
    assert renamed.value.code is ErrorCode.CONFLICT
    assert (await Template.get(id=first.id)).content == "{{ title }}"


async def test_a_broken_template_is_refused_when_saved(asgi_app) -> None:
    ada = await make_user("ada@example.com")
    for source in ("{% for x in highlights %}", "{{ ''.__class__ }}", "{{ nope }}", "{{ 'x' * 10**9 }}"):
        with pytest.raises(ServiceError) as failure:
            await templates.create_template(user=ada, template_type="blog", name="Bad", content=source)
        assert (failure.value.code, failure.value.field) == (ErrorCode.TEMPLATE_ERROR, "content")
    good = await templates.create_template(user=ada, template_type="blog", name="Good", content="{{ title }}")
    with pytest.raises(ServiceError):
        await templates.update_template(user=ada, template_id=str(good.id), content="{{ self.__dict__ }}")
    assert await Template.filter(user_id=ada.id).count() == 1
    assert (await Template.get(id=good.id)).content == "{{ title }}"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"template_type": "not a type!"}, "type"),
        ({"name": "  "}, "name"),
        ({"content": "x" * (templates.CONTENT_MAX_CHARS + 1)}, "content"),
        ({"variables": [TemplateVariable("Bad-Name")]}, "variables"),
        ({"variables": [TemplateVariable("hook")]}, "variables"),
        ({"variables": [TemplateVariable("ask"), TemplateVariable("ask")]}, "variables"),
    ],
)
async def test_invalid_template_fields_are_refused(asgi_app, fields, field) -> None:
    ada = await make_user("ada@example.com")
    values = {"template_type": "blog", "name": "Mine", "content": "{{ title }}", **fields}
    with pytest.raises(ServiceError) as failure:
        await templates.create_template(user=ada, **values)
    assert (failure.value.code, failure.value.field) == (ErrorCode.INVALID_INPUT, field)


async def test_own_template_wins_over_the_default_of_the_same_type_and_name(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    ada, bob = await make_user("ada@example.com"), await make_user("bob@example.com")
    mine = await templates.create_template(
        user=ada, template_type="linkedin", name="LinkedIn post", content="{{ hook }}"
    )
    listed = await templates.templates_for(ada)
    assert [(t.template_type, t.template_name, t.user_id is None) for t in listed] == [
        ("blog", "Blog outline", True),
        ("linkedin", "LinkedIn post", False),
        ("twitter", "X/Twitter thread", True),
    ]
    assert [t.id for t in await templates.templates_for(ada, template_type="linkedin")] == [mine.id]
    # bob sees the default, and nothing of ada's
    [bobs] = await templates.templates_for(bob, template_type="linkedin")
    assert bobs.user_id is None
    assert await templates.visible_template(bob, str(mine.id)) is None


async def test_defaults_are_read_only_except_for_admins(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    default = await Template.get(user_id=None, template_type="blog")
    ada, admin = await make_user("ada@example.com"), await make_user("root@example.com", role=Role.ADMIN)
    for change in (
        templates.update_template(user=ada, template_id=str(default.id), name="Mine now"),
        templates.delete_template(user=ada, template_id=str(default.id)),
    ):
        with pytest.raises(ServiceError) as failure:
            await change
        assert failure.value.code is ErrorCode.FORBIDDEN
    edited = await templates.update_template(user=admin, template_id=str(default.id), description="Edited by an admin")
    assert edited.description == "Edited by an admin" and edited.user_id is None


async def test_another_persons_template_cannot_be_changed_or_used(asgi_app) -> None:
    ada, bob = await make_user("ada@example.com"), await make_user("bob@example.com")
    mine = await templates.create_template(user=ada, template_type="blog", name="Mine", content="{{ title }}")
    video = await analysed_video(bob)
    for attempt in (
        templates.update_template(user=bob, template_id=str(mine.id), name="Stolen"),
        templates.delete_template(user=bob, template_id=str(mine.id)),
        content.generate_content(
            user=bob, video_id=str(video.id), template_id=str(mine.id), template_type=None, llm=None
        ),
    ):
        with pytest.raises(ServiceError) as failure:
            await attempt
        assert failure.value.code is ErrorCode.NOT_FOUND
    assert (await Template.get(id=mine.id)).template_name == "Mine"


async def test_local_generation_fills_variables_from_the_analysis(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    ada = await make_user("ada@example.com")
    video = await analysed_video(ada)
    made = await content.generate_content(
        user=ada, video_id=str(video.id), template_id=None, template_type=None, llm=None
    )
    assert made.content.startswith("A compiler is a pipeline of small passes.\n")
    assert "→ Tokens come first\n→ Parsing builds the tree" in made.content
    assert "▸ 01:15 Tokens come first: https://www.youtube.com/watch?v=cmPl3rTk9aE&t=75s" in made.content
    assert made.content.endswith("#Compiler #Python #ProgrammingLanguages")
    assert made.metadata["template_name"] == "LinkedIn post" and made.metadata["model"] == "local"
    assert made.metadata["variables"]["takeaways"][:2] == ["Tokens come first", "Parsing builds the tree"]
    blog = await content.generate_content(
        user=ada, video_id=str(video.id), template_id=None, template_type="blog", llm=None
    )
    # a declared variable with nothing in common with the summary gets its closing sentence
    assert "## Conclusion\n\nIn the end, testing each pass alone keeps the whole compiler simple." in blog.content
    assert "### 2. Part 1 (05:00)\n\nAbout part 1." in blog.content
    assert await GeneratedContent.filter(user_id=ada.id).count() == 2


async def test_generation_uses_the_persons_own_template_of_the_type(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    ada = await make_user("ada@example.com")
    video = await analysed_video(ada)
    mine = await templates.create_template(
        user=ada,
        template_type="linkedin",
        name="Terse",
        content="{{ title }} in {{ duration }} {{ highlights|length }}",
    )
    made = await content.generate_content(
        user=ada, video_id=str(video.id), template_id=None, template_type="LINKEDIN", llm=None
    )
    assert made.content == "Building a Compiler in Python in 12:22 4"
    assert made.template_id == mine.id  # type: ignore[attr-defined]


async def test_generation_needs_the_video_in_the_library_and_a_finished_analysis(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    ada, bob = await make_user("ada@example.com"), await make_user("bob@example.com")
    video = await analysed_video(ada, status=AnalysisStatus.ANALYZING)
    with pytest.raises(ServiceError) as running:
        await content.generate_content(user=ada, video_id=str(video.id), template_id=None, template_type=None, llm=None)
    assert (running.value.code, running.value.field) == (ErrorCode.CONFLICT, "videoId")
    with pytest.raises(ServiceError) as elsewhere:
        await content.generate_content(user=bob, video_id=str(video.id), template_id=None, template_type=None, llm=None)
    assert (elsewhere.value.code, elsewhere.value.field) == (ErrorCode.NOT_FOUND, "videoId")
    await Analysis.filter(video_id=video.id).update(status=AnalysisStatus.COMPLETED)
    with pytest.raises(ServiceError) as no_type:
        await content.generate_content(
            user=ada, video_id=str(video.id), template_id=None, template_type="email", llm=None
        )
    assert (no_type.value.code, no_type.value.field) == (ErrorCode.NOT_FOUND, "type")
    assert await GeneratedContent.all().count() == 0


async def test_generation_uses_the_finished_analysis_while_a_new_one_runs(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    ada = await make_user("ada@example.com")
    video = await analysed_video(ada)
    finished = await Analysis.get(video_id=video.id)
    rerun = await Analysis.create(video=video, settings_key="k2", analyzer="openai:1", status=AnalysisStatus.ANALYZING)
    await LibraryEntry.filter(user_id=ada.id, video_id=video.id).update(analysis_id=rerun.id)
    made = await content.generate_content(
        user=ada, video_id=str(video.id), template_id=None, template_type=None, llm=None
    )
    assert made.metadata["analysis_id"] == str(finished.id)
    assert "Tokens come first" in made.content


def post_material(body: dict) -> Reply | None:
    if body.get("response_format", {}).get("json_schema", {}).get("name") != "post_material":
        return None
    return Reply(
        {
            "hook": "Compilers are smaller than you think.",
            "takeaways": ["Write the tokenizer first.", "Keep each pass tiny."],
            "hashtags": ["#Compilers", "python tips", "Bytecode"],
            "variables": {"conclusion": "Build one yourself this weekend."},
        },
        prompt_tokens=900,
        completion_tokens=120,
    )


async def test_llm_generation_asks_once_grounded_in_the_analysis(asgi_app, stub: LLMStub) -> None:
    await default_templates.ensure_default_templates()
    ada = await make_user("ada@example.com")
    video = await analysed_video(ada)
    stub.script = post_material
    llm_settings = LLMSettings(
        api_key="sk-test", base_url=stub.base_url, model="post-model", max_retries=0, timeout=5.0
    )
    async with make_client(llm_settings) as client:
        made = await content.generate_content(
            user=ada,
            video_id=str(video.id),
            template_id=None,
            template_type="blog",
            llm=content.LLM(client, "post-model"),
        )
    [request] = stub.chat_requests
    assert request.body["model"] == "post-model"
    schema = request.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["variables"]["required"] == ["conclusion"]
    assert "A compiler is a pipeline of small passes." in request.prompt
    assert "[01:15] Tokens come first: Why tokens come first matters." in request.prompt
    assert "> Compilers are smaller than you think." in made.content
    assert "- Write the tokenizer first.\n- Keep each pass tiny." in made.content
    assert "## Conclusion\n\nBuild one yourself this weekend." in made.content
    assert made.metadata["model"] == "post-model"
    assert (made.metadata["prompt_tokens"], made.metadata["completion_tokens"]) == (900, 120)
    assert made.metadata["variables"]["hashtags"] == ["Compilers", "PythonTips", "Bytecode"]


async def test_llm_replies_of_the_wrong_shape_end_in_an_llm_error(asgi_app, stub: LLMStub) -> None:
    await default_templates.ensure_default_templates()
    ada = await make_user("ada@example.com")
    video = await analysed_video(ada)
    wrong = json.dumps({"hook": "", "takeaways": "not a list", "hashtags": []})
    stub.queue(wrong, wrong)
    llm_settings = LLMSettings(
        api_key="sk-test", base_url=stub.base_url, model="post-model", max_retries=0, timeout=5.0
    )
    async with make_client(llm_settings) as client:
        with pytest.raises(ServiceError) as failure:
            await content.generate_content(
                user=ada,
                video_id=str(video.id),
                template_id=None,
                template_type=None,
                llm=content.LLM(client, "post-model"),
            )
    assert failure.value.code is ErrorCode.LLM_ERROR
    assert len(stub.chat_requests) == 2  # the bad reply was retried once, with what was wrong
    assert await GeneratedContent.all().count() == 0
