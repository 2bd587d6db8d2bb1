from __future__ import annotations

import pytest
from strawberry.relay import GlobalID

from models import Analysis, AnalysisStatus, GeneratedContent, Highlight, LibraryEntry, Role, Template, User, Video
from services.default_templates import ensure_default_templates
from tests.fixture_source import COMPILER_TALK, INDEX_TALK
from tests.helpers import data_of, gql, sign_up
from tests.schema.test_analyses import analyze, wait_until_done

TEMPLATES = """
query($type: String) { viewer { templates(type: $type) {
  id type name description isDefault content variables { name description }
} } }
"""
CREATE = """
mutation($input: CreateTemplateInput!) { createTemplate(input: $input) {
  template { id type name isDefault content variables { name description } } errors { code field message }
} }
"""
UPDATE = """
mutation($id: ID!, $input: UpdateTemplateInput!) { updateTemplate(id: $id, input: $input) {
  template { id name content } errors { code field message }
} }
"""
DELETE = "mutation($id: ID!) { deleteTemplate(id: $id) { removedId errors { code field message } } }"
GENERATE = """
mutation($input: GenerateContentInput!) { generateContent(input: $input) {
  content {
    id content createdAt model tokenUsage { totalTokens } template { id name type isDefault } video { id title }
  }
  errors { code field message }
} }
"""
NODE = """
query($id: ID!) { node(id: $id) {
  __typename id
  ... on Template { name isDefault }
  ... on GeneratedContent { content template { name } video { id } }
} }
"""


@pytest.fixture(autouse=True)
async def defaults(asgi_app):
    # every test starts from empty tables: seed the defaults as the app's start-up does
    await ensure_default_templates()


async def create(client, token, **fields):
    values = {"type": "linkedin", "name": "Mine", "content": "{{ hook }}", **fields}
    return data_of(await gql(client, CREATE, {"input": values}, token=token))["createTemplate"]


async def analysed(client, token, video=COMPILER_TALK):
    payload = await analyze(client, token, f"https://youtu.be/{video}")
    done = await wait_until_done(client, token, payload["analysis"]["id"])
    assert done["status"] == "COMPLETED"
    return payload["video"]["id"]


async def generate(client, token, **fields):
    return data_of(await gql(client, GENERATE, {"input": fields}, token=token))["generateContent"]


async def test_everyone_gets_the_system_templates(client):
    token = await sign_up(client)
    listed = data_of(await gql(client, TEMPLATES, token=token))["viewer"]["templates"]
    assert [(t["type"], t["name"], t["isDefault"]) for t in listed] == [
        ("blog", "Blog outline", True),
        ("linkedin", "LinkedIn post", True),
        ("twitter", "X/Twitter thread", True),
    ]
    assert listed[0]["variables"][0]["name"] == "conclusion"
    only = data_of(await gql(client, TEMPLATES, {"type": "twitter"}, token=token))["viewer"]["templates"]
    assert [t["name"] for t in only] == ["X/Twitter thread"] and "{{ hook }}" in only[0]["content"]


async def test_my_template_replaces_the_default_of_the_same_type_and_name(client):
    token = await sign_up(client)
    made = await create(client, token, name="LinkedIn post", content="{{ hook }}\n{{ url }}")
    assert made["errors"] == [] and made["template"]["isDefault"] is False
    listed = data_of(await gql(client, TEMPLATES, {"type": "linkedin"}, token=token))["viewer"]["templates"]
    assert [(t["id"], t["isDefault"]) for t in listed] == [(made["template"]["id"], False)]
    # another name of the same type sits beside the default instead
    await create(client, token, name="Short one")
    names = [
        t["name"]
        for t in data_of(await gql(client, TEMPLATES, {"type": "linkedin"}, token=token))["viewer"]["templates"]
    ]
    assert names == ["LinkedIn post", "Short one"]


async def test_templates_are_created_updated_and_deleted(client):
    token = await sign_up(client)
    made = await create(
        client,
        token,
        type="Newsletter",
        name="Weekly",
        content="{{ title }}: {{ teaser }}",
        variables=[{"name": "teaser", "description": "One line that teases the video."}],
    )
    assert made["errors"] == []
    assert made["template"]["type"] == "newsletter"
    assert made["template"]["variables"] == [{"name": "teaser", "description": "One line that teases the video."}]
    template_id = made["template"]["id"]
    changed = data_of(await gql(client, UPDATE, {"id": template_id, "input": {"name": "Weekly digest"}}, token=token))[
        "updateTemplate"
    ]
    assert changed == {
        "template": {"id": template_id, "name": "Weekly digest", "content": "{{ title }}: {{ teaser }}"},
        "errors": [],
    }
    # dropping the declared variable while the content still uses it is refused
    refused = data_of(await gql(client, UPDATE, {"id": template_id, "input": {"variables": []}}, token=token))[
        "updateTemplate"
    ]
    assert (refused["errors"][0]["code"], refused["errors"][0]["field"]) == ("TEMPLATE_ERROR", "content")
    assert "unknown variable 'teaser'" in refused["errors"][0]["message"]
    removed = data_of(await gql(client, DELETE, {"id": template_id}, token=token))["deleteTemplate"]
    assert removed == {"removedId": template_id, "errors": []}
    assert data_of(await gql(client, NODE, {"id": template_id}, token=token)) == {"node": None}
    again = data_of(await gql(client, DELETE, {"id": template_id}, token=token))["deleteTemplate"]
    assert again["errors"][0]["code"] == "NOT_FOUND"


async def test_a_second_template_with_the_same_type_and_name_conflicts(client):
    token = await sign_up(client)
    assert (await create(client, token))["errors"] == []
    twice = await create(client, token, content="{{ title }}")
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("CONFLICT", "name")]
    assert await Template.filter(user_id__not_isnull=True).count() == 1


@pytest.mark.parametrize(
    "content",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 10**9 }}",
        "Hello\n{% if title %}\n{{ title }",
    ],
)
async def test_hostile_or_broken_templates_are_refused_when_saved(client, content):
    token = await sign_up(client)
    payload = await create(client, token, content=content)
    assert payload["template"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("TEMPLATE_ERROR", "content")
    assert error["message"].startswith("Line ")
    assert await Template.filter(user_id__not_isnull=True).count() == 0


async def test_system_templates_are_changed_only_by_admins(client):
    ada = await sign_up(client, email="ada@example.com")
    root = await sign_up(client, email="root@example.com")
    await User.filter(email="root@example.com").update(role=Role.ADMIN)
    default_id = data_of(await gql(client, TEMPLATES, {"type": "blog"}, token=ada))["viewer"]["templates"][0]["id"]
    for mutation, variables in ((UPDATE, {"id": default_id, "input": {"name": "Ada's"}}), (DELETE, {"id": default_id})):
        body = data_of(await gql(client, mutation, variables, token=ada))
        assert next(iter(body.values()))["errors"][0]["code"] == "FORBIDDEN"
    edited = data_of(await gql(client, UPDATE, {"id": default_id, "input": {"content": "# {{ title }}"}}, token=root))[
        "updateTemplate"
    ]
    assert edited["errors"] == [] and edited["template"]["content"] == "# {{ title }}"
    assert (await Template.get(user_id=None, template_type="blog")).content == "# {{ title }}"


async def test_generate_content_turns_an_analysed_video_into_a_post(client):
    token = await sign_up(client)
    video_id = await analysed(client, token)
    payload = await generate(client, token, videoId=video_id)
    assert payload["errors"] == []
    made = payload["content"]
    assert made["template"] == {
        "id": made["template"]["id"],
        "name": "LinkedIn post",
        "type": "linkedin",
        "isDefault": True,
    }
    assert made["video"] == {"id": video_id, "title": "Building a Compiler in Python: From Tokens to Bytecode"}
    assert (made["model"], made["tokenUsage"]["totalTokens"]) == ("local", 0)
    text = made["content"]
    assert '"Building a Compiler in Python: From Tokens to Bytecode" by Ada Devlin (12:22)' in text
    assert text.count(f"https://www.youtube.com/watch?v={COMPILER_TALK}&t=") == 3
    assert "#Compiler #Python #ProgrammingLanguages #Parsing #Bytecode" in text
    assert "{{" not in text and "{%" not in text
    fetched = data_of(await gql(client, NODE, {"id": made["id"]}, token=token))["node"]
    assert fetched == {
        "__typename": "GeneratedContent",
        "id": made["id"],
        "content": text,
        "template": {"name": "LinkedIn post"},
        "video": {"id": video_id},
    }


async def test_generate_content_picks_my_template_by_id_or_type(client):
    token = await sign_up(client)
    video_id = await analysed(client, token, INDEX_TALK)
    mine = (
        await create(client, token, type="twitter", name="One tweet", content="{{ hook|truncate(200) }} {{ url }}")
    )["template"]
    by_type = (await generate(client, token, videoId=video_id, type="twitter"))["content"]
    assert by_type["template"]["id"] == mine["id"]
    assert by_type["content"].endswith(f" https://www.youtube.com/watch?v={INDEX_TALK}")
    default_thread = data_of(await gql(client, TEMPLATES, {"type": "blog"}, token=token))["viewer"]["templates"][0]
    by_id = (await generate(client, token, videoId=video_id, templateId=default_thread["id"]))["content"]
    assert by_id["content"].startswith("# Why Your Database Index Isn't Being Used\n")
    mismatch = await generate(client, token, videoId=video_id, templateId=default_thread["id"], type="twitter")
    assert [(e["code"], e["field"]) for e in mismatch["errors"]] == [("INVALID_INPUT", "type")]
    # the post outlives the template it was made with
    data_of(await gql(client, DELETE, {"id": mine["id"]}, token=token))
    kept = data_of(await gql(client, NODE, {"id": by_type["id"]}, token=token))["node"]
    assert kept["template"] is None and kept["content"] == by_type["content"]


async def test_generate_content_needs_a_finished_analysis_in_my_library(client):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(
        youtube_id="qUeUed00001", url="https://www.youtube.com/watch?v=qUeUed00001", title="Queued"
    )
    analysis = await Analysis.create(video=video, settings_key="k", analyzer="local:1", status=AnalysisStatus.QUEUED)
    video_id = str(GlobalID("Video", str(video.id)))
    outside = await generate(client, token, videoId=video_id)
    assert [(e["code"], e["field"]) for e in outside["errors"]] == [("NOT_FOUND", "videoId")]
    await LibraryEntry.create(user=user, video=video, analysis=analysis)
    running = await generate(client, token, videoId=video_id)
    assert [(e["code"], e["field"]) for e in running["errors"]] == [("CONFLICT", "videoId")]
    for wrong in (
        {"videoId": str(GlobalID("Template", str(video.id)))},
        {"videoId": str(GlobalID("Video", "not-a-uuid"))},
    ):
        assert (await generate(client, token, **wrong))["errors"][0]["code"] == "NOT_FOUND"
    await Analysis.filter(id=analysis.id).update(status=AnalysisStatus.COMPLETED, summary="Short.")
    unknown_type = await generate(client, token, videoId=video_id, type="email")
    assert [(e["code"], e["field"]) for e in unknown_type["errors"]] == [("NOT_FOUND", "type")]
    assert (await generate(client, token, videoId=video_id, type="twitter"))["errors"] == []
    assert await GeneratedContent.all().count() == 1


async def test_a_template_that_fails_on_the_videos_data_is_a_template_error(client):
    token = await sign_up(client)
    user = await User.get(email="ada@example.com")
    video = await Video.create(
        youtube_id="fEwHiGhLiTs", url="https://www.youtube.com/watch?v=fEwHiGhLiTs", title="One point"
    )
    analysis = await Analysis.create(
        video=video, settings_key="k", analyzer="local:1", status=AnalysisStatus.COMPLETED, summary="One point."
    )
    await Highlight.create(
        analysis=analysis, position=0, start=1.0, end=20.0, title="The point", description="", agent_name="key-point"
    )
    await LibraryEntry.create(user=user, video=video, analysis=analysis)
    # the sample a template is tried on when saved has five highlights; this video has one
    made = await create(client, token, content="{{ highlights[4].title }}")
    assert made["errors"] == []
    payload = await generate(
        client, token, videoId=str(GlobalID("Video", str(video.id))), templateId=made["template"]["id"]
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("TEMPLATE_ERROR", "templateId")]
    assert payload["errors"][0]["message"].startswith("Line 1: ")
    assert await GeneratedContent.all().count() == 0


async def test_another_person_sees_none_of_my_templates_or_posts(client):
    ada = await sign_up(client, email="ada@example.com")
    bob = await sign_up(client, email="bob@example.com")
    mine = (await create(client, ada, name="Ada's own"))["template"]
    video_id = await analysed(client, ada)
    post = (await generate(client, ada, videoId=video_id, templateId=mine["id"]))["content"]
    for node_id in (mine["id"], post["id"]):
        assert data_of(await gql(client, NODE, {"id": node_id}, token=bob)) == {"node": None}
        assert data_of(await gql(client, NODE, {"id": node_id})) == {"node": None}
    listed = data_of(await gql(client, TEMPLATES, token=bob))["viewer"]["templates"]
    assert all(t["isDefault"] for t in listed) and len(listed) == 3
    # bob has the same video in his library: still not ada's template
    await analysed(client, bob)
    for mutation, variables in (
        (UPDATE, {"id": mine["id"], "input": {"name": "Bob's now"}}),
        (DELETE, {"id": mine["id"]}),
        (GENERATE, {"input": {"videoId": video_id, "templateId": mine["id"]}}),
    ):
        body = data_of(await gql(client, mutation, variables, token=bob))
        assert next(iter(body.values()))["errors"][0]["code"] == "NOT_FOUND"
    assert (await Template.get(id=GlobalID.from_id(mine["id"]).node_id)).template_name == "Ada's own"
    assert await GeneratedContent.all().count() == 1


async def test_template_mutations_require_sign_in(client):
    for mutation, variables in (
        (CREATE, {"input": {"type": "blog", "name": "x", "content": "{{ title }}"}}),
        (DELETE, {"id": str(GlobalID("Template", "00000000-0000-0000-0000-000000000000"))}),
        (GENERATE, {"input": {"videoId": str(GlobalID("Video", "00000000-0000-0000-0000-000000000000"))}}),
    ):
        body = await gql(client, mutation, variables)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
