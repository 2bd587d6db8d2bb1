"""Content templates and the posts made with them, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from models import GeneratedContent as GeneratedContentModel
from models import Template as TemplateModel
from resolvers import templates as resolvers
from resolvers import videos as video_resolvers
from schema.context import Info
from schema.errors import UserError
from schema.library import RemovePayload
from schema.nodes import node_resolver
from schema.videos import TokenUsage, Video
from services import templates as template_service
from services.errors import ErrorCode, ServiceError


@strawberry.type(description="A variable a template declares beyond the standard ones.")
class TemplateVariable:
    name: str = strawberry.field(description="How the template refers to it, e.g. call_to_action.")
    description: str = strawberry.field(description="What to write for it; the LLM is given this.")


@strawberry.type(
    description="A Jinja2 template for a post: yours, or a system default (isDefault). Every template gets "
    "title, url, channel, duration, summary, highlights {title description timestamp seconds url}, "
    "chapters {title timestamp summary}, tags, hook, takeaways, hashtags, and the variables it declares."
)
class Template(relay.Node):
    id: relay.NodeID[str]
    type: str = strawberry.field(description="What it makes, e.g. linkedin, twitter, blog.")
    name: str = strawberry.field(description="Unique among your templates of its type.")
    description: str = strawberry.field(description="What the template is for, in a sentence.")
    content: str = strawberry.field(description="Jinja2 source; a block tag on its own line leaves no blank line.")
    variables: list[TemplateVariable] = strawberry.field(
        description="The variables it declares beyond the standard ones."
    )
    is_default: bool = strawberry.field(
        description="A system template; create one with the same type and name to use your own."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")

    @classmethod
    def from_model(cls, m: TemplateModel) -> Template:
        return cls(
            id=str(m.id),
            type=m.template_type,
            name=m.template_name,
            description=m.description,
            content=m.content,
            variables=[
                TemplateVariable(name=v.name, description=v.description) for v in template_service.variables_of(m)
            ],
            is_default=m.user_id is None,  # type: ignore[attr-defined]
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


@strawberry.type(description="A post made from a video through a template.")
class GeneratedContent(relay.Node):
    id: relay.NodeID[str]
    content: str = strawberry.field(description="The rendered post, plain text (Markdown for the blog outline).")
    created_at: datetime = strawberry.field(description="When it was made.")
    model: str = strawberry.field(description="The LLM that wrote the generated variables, or `local`.")
    token_usage: TokenUsage = strawberry.field(description="Tokens the LLM used for it; zero without one.")
    video_id: strawberry.Private[str]
    template_id: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, m: GeneratedContentModel) -> GeneratedContent:
        meta = m.metadata or {}
        return cls(
            id=str(m.id),
            content=m.content,
            created_at=m.created_at,
            model=str(meta.get("model", "")),
            token_usage=TokenUsage(
                prompt_tokens=int(meta.get("prompt_tokens", 0)), completion_tokens=int(meta.get("completion_tokens", 0))
            ),
            video_id=str(m.video_id),  # type: ignore[attr-defined]
            template_id=str(m.template_id) if m.template_id else None,  # type: ignore[attr-defined]
        )

    @strawberry.field(description="The template used; null once your own template is deleted.")
    async def template(self, info: Info) -> Template | None:
        if self.template_id is None:
            return None
        row = await resolvers.visible_template(info, self.template_id)
        return Template.from_model(row) if row else None

    @strawberry.field(description="The video; null once it has left your library.")
    async def video(self, info: Info) -> Video | None:
        row = await video_resolvers.visible_video(info, self.video_id)
        return Video.from_model(row) if row else None


@strawberry.input(description="A variable the template declares; the LLM writes it from its description.")
class TemplateVariableInput:
    name: str = strawberry.field(description="Lowercase letters, digits and _, e.g. call_to_action.")
    description: str = strawberry.field(default="", description="What to write for it, at most 500 characters.")


@strawberry.input(description="A template of your own.")
class CreateTemplateInput:
    type: str = strawberry.field(description="e.g. linkedin, twitter, blog; lowercase letters, digits, - and _.")
    name: str = strawberry.field(description="Unique among your templates of this type; a default's name replaces it.")
    content: str = strawberry.field(description="Jinja2 source, checked and dry-rendered before it is saved.")
    description: str = strawberry.field(default="", description="What the template is for.")
    variables: list[TemplateVariableInput] = strawberry.field(
        default_factory=list, description="Variables the template uses beyond the standard ones."
    )


@strawberry.input(description="The fields to change; those left out stay as they are.")
class UpdateTemplateInput:
    type: str | None = strawberry.field(default=None, description="A new type.")
    name: str | None = strawberry.field(
        default=None, description="A new name, unique among your templates of the type."
    )
    content: str | None = strawberry.field(default=None, description="New Jinja2 source, checked before it is saved.")
    description: str | None = strawberry.field(default=None, description="A new description.")
    variables: list[TemplateVariableInput] | None = strawberry.field(
        default=None, description="The declared variables, all of them: they replace the old list."
    )


@strawberry.input(description="Which video to turn into a post, and through which template.")
class GenerateContentInput:
    video_id: relay.GlobalID = strawberry.field(description="A video in your library with a finished analysis.")
    template_id: relay.GlobalID | None = strawberry.field(default=None, description="Your template or a default.")
    type: str | None = strawberry.field(
        default=None, description="Without templateId: your template of this type, else the default. Default: linkedin."
    )


@strawberry.type(description="The template as saved, or why it was not.")
class TemplatePayload:
    template: Template | None = strawberry.field(description="Null when there are errors.")
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was saved when there are any.")


@strawberry.type(description="The post made, or why it could not be.")
class GenerateContentPayload:
    content: GeneratedContent | None = strawberry.field(description="Null when there are errors.")
    errors: list[UserError] = strawberry.field(description="Expected failures; nothing was stored when there are any.")


def _expected(error: ServiceError) -> list[UserError]:
    if error.code is ErrorCode.UNAUTHENTICATED:
        raise error
    return [UserError.from_service(error)]


def _variables(given: list[TemplateVariableInput] | None) -> list[template_service.TemplateVariable] | None:
    if given is None:
        return None
    return [template_service.TemplateVariable(v.name.strip(), v.description.strip()) for v in given]


@strawberry.type
class TemplateMutations:
    @strawberry.mutation(description="Save a template of your own; it is compiled and dry-rendered first.")
    async def create_template(self, info: Info, input: CreateTemplateInput) -> TemplatePayload:
        try:
            row = await resolvers.create_template(
                info,
                template_type=input.type,
                name=input.name,
                body=input.content,
                description=input.description,
                variables=_variables(input.variables) or [],
            )
        except ServiceError as error:
            return TemplatePayload(template=None, errors=_expected(error))
        return TemplatePayload(template=Template.from_model(row), errors=[])

    @strawberry.mutation(description="Change your template. System templates are changed by admins only.")
    async def update_template(self, info: Info, id: relay.GlobalID, input: UpdateTemplateInput) -> TemplatePayload:
        try:
            row = await resolvers.update_template(
                info,
                template_id=id,
                template_type=input.type,
                name=input.name,
                body=input.content,
                description=input.description,
                variables=_variables(input.variables),
            )
        except ServiceError as error:
            return TemplatePayload(template=None, errors=_expected(error))
        return TemplatePayload(template=Template.from_model(row), errors=[])

    @strawberry.mutation(description="Delete your template; posts made with it stay.")
    async def delete_template(self, info: Info, id: relay.GlobalID) -> RemovePayload:
        try:
            await resolvers.delete_template(info, template_id=id)
        except ServiceError as error:
            return RemovePayload(removed_id=None, errors=_expected(error))
        return RemovePayload(removed_id=id, errors=[])

    @strawberry.mutation(
        description="Turn an analysed video into a post through a template; the LLM, when configured, writes "
        "hook, takeaways, hashtags and the template's own variables."
    )
    async def generate_content(self, info: Info, input: GenerateContentInput) -> GenerateContentPayload:
        try:
            row = await resolvers.generate_content(
                info, video_id=input.video_id, template_id=input.template_id, template_type=input.type
            )
        except ServiceError as error:
            return GenerateContentPayload(content=None, errors=_expected(error))
        return GenerateContentPayload(content=GeneratedContent.from_model(row), errors=[])


async def templates_field(root: Any, info: Info, type: str | None = None) -> list[Template]:
    """`User.templates`: the viewer's templates and the defaults they have not replaced, by type and name."""
    rows = await resolvers.templates_of(info, user_id=str(root.id), template_type=type)
    return [Template.from_model(t) for t in rows]


@node_resolver("Template")
async def _template_node(info: Info, node_id: str) -> Template | None:
    row = await resolvers.visible_template(info, node_id)
    return Template.from_model(row) if row else None


@node_resolver("GeneratedContent")
async def _content_node(info: Info, node_id: str) -> GeneratedContent | None:
    row = await resolvers.own_content(info, node_id)
    return GeneratedContent.from_model(row) if row else None
