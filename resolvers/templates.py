"""Thin resolvers for templates and generated content: ids in, one service call, rows out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from strawberry import relay

from models import GeneratedContent, Template
from resolvers.ids import as_uuid
from resolvers.library import owned_by_viewer, raw_id, viewer_of
from services import content, templates
from services.templates import TemplateVariable

if TYPE_CHECKING:
    from schema.context import Info


async def templates_of(info: Info, *, user_id: str, template_type: str | None) -> list[Template]:
    user = owned_by_viewer(info, user_id)
    return await templates.templates_for(user, template_type=template_type) if user else []


async def visible_template(info: Info, node_id: str) -> Template | None:
    key, viewer = as_uuid(node_id), info.context.viewer
    if key is None or viewer is None:
        return None
    return await templates.visible_template(viewer, str(key))


async def own_content(info: Info, node_id: str) -> GeneratedContent | None:
    key, viewer = as_uuid(node_id), info.context.viewer
    if key is None or viewer is None:
        return None
    return await GeneratedContent.get_or_none(id=key, user_id=viewer.id)


async def create_template(
    info: Info, *, template_type: str, name: str, body: str, description: str, variables: Sequence[TemplateVariable]
) -> Template:
    return await templates.create_template(
        user=viewer_of(info),
        template_type=template_type,
        name=name,
        content=body,
        description=description,
        variables=variables,
    )


async def update_template(
    info: Info,
    *,
    template_id: relay.GlobalID,
    template_type: str | None,
    name: str | None,
    body: str | None,
    description: str | None,
    variables: Sequence[TemplateVariable] | None,
) -> Template:
    user = viewer_of(info)
    tid = raw_id(template_id, "Template", "id")
    assert tid is not None
    return await templates.update_template(
        user=user,
        template_id=tid,
        template_type=template_type,
        name=name,
        content=body,
        description=description,
        variables=variables,
    )


async def delete_template(info: Info, *, template_id: relay.GlobalID) -> None:
    user = viewer_of(info)
    tid = raw_id(template_id, "Template", "id")
    assert tid is not None
    await templates.delete_template(user=user, template_id=tid)


def llm_of(info: Info) -> content.LLM | None:
    """The process's chat model, when one is configured; generation is extractive otherwise."""
    services = info.context.services
    if services.llm_client is not None and services.llm_settings is not None:
        return content.LLM(client=services.llm_client, model=services.llm_settings.model)
    return None


async def generate_content(
    info: Info, *, video_id: relay.GlobalID, template_id: relay.GlobalID | None, template_type: str | None
) -> GeneratedContent:
    user = viewer_of(info)
    vid = raw_id(video_id, "Video", "videoId")
    assert vid is not None
    return await content.generate_content(
        user=user,
        video_id=vid,
        template_id=raw_id(template_id, "Template", "templateId"),
        template_type=template_type,
        llm=llm_of(info),
    )
