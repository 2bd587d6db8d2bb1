"""Content templates (seed 004): a person's own and the system defaults, stored and checked.

A template is compiled, checked for unknown variables and dry-rendered when it is saved, so a
broken one is refused then and not when someone uses it. Rendering is services.template_sandbox;
the texts of the system defaults are services.default_templates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import meta, nodes
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models import Role, Template, User
from services.errors import ErrorCode, ServiceError
from services.template_sandbox import render, sandbox, template_error

CONTENT_MAX_CHARS = 20_000
VARIABLES_MAX = 20

# What every template gets; GENERATED are written for the template (by the LLM, or extractively).
BASE_VARIABLES = ("title", "url", "channel", "duration", "summary", "highlights", "chapters", "tags")
GENERATED_VARIABLES = ("hook", "takeaways", "hashtags")
_RESERVED = frozenset(
    {
        *BASE_VARIABLES,
        *GENERATED_VARIABLES,
        *"range dict cycler joiner namespace loop self caller varargs kwargs".split(),
    }
    | {"true", "false", "none", "variables"}
)
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
_VARIABLE_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


@dataclass(frozen=True, slots=True)
class TemplateVariable:
    """A variable a template declares beyond the standard ones; its description guides the LLM."""

    name: str
    description: str = ""


def variables_of(template: Template) -> list[TemplateVariable]:
    # seed 004 stored bare names; declared variables here carry a description too
    found = []
    for item in template.variables or []:
        if isinstance(item, str):
            found.append(TemplateVariable(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            found.append(TemplateVariable(item["name"], str(item.get("description") or "")))
    return found


# --- validation ---------------------------------------------------------------------------------

SAMPLE_VARIABLES: dict[str, Any] = {
    "title": "Building a Compiler in Python: From Tokens to Bytecode",
    "url": "https://www.youtube.com/watch?v=cmPl3rTk9aE",
    "channel": "Ada Devlin",
    "duration": "12:22",
    "summary": "A compiler is a pipeline of small passes. The tokenizer turns text into tokens, the parser "
    "builds a tree, and the code generator walks it to emit bytecode. Testing each pass alone keeps it simple.",
    "highlights": [
        {
            "title": f"Point {n}",
            "description": f"What point {n} says.",
            "timestamp": f"0{n}:00",
            "seconds": n * 60.0,
            "url": f"https://www.youtube.com/watch?v=cmPl3rTk9aE&t={n * 60}s",
        }
        for n in range(1, 6)
    ],
    "chapters": [
        {"title": f"Part {n}", "timestamp": f"0{n * 2}:00", "summary": f"What part {n} covers."} for n in range(4)
    ],
    "tags": ["compiler", "python", "parsing"],
    "hook": "Every compiler is just a few small passes in a row.",
    "takeaways": ["Split the work into passes.", "Test each pass alone.", "Bytecode is just a list."],
    "hashtags": ["Compilers", "Python", "Programming"],
}


def _check_fields(*, template_type: str, name: str, description: str, content: str) -> None:
    if not _TYPE_RE.match(template_type):
        raise ServiceError(
            ErrorCode.INVALID_INPUT, "A type is 1-50 lowercase letters, digits, - or _, e.g. linkedin.", field="type"
        )
    if not name or len(name) > 255:
        raise ServiceError(ErrorCode.INVALID_INPUT, "A name has 1 to 255 characters.", field="name")
    if len(description) > 2_000:
        raise ServiceError(ErrorCode.INVALID_INPUT, "A description has at most 2000 characters.", field="description")
    if not content.strip() or len(content) > CONTENT_MAX_CHARS:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"A template has 1 to {CONTENT_MAX_CHARS} characters.", field="content"
        )


def _check_variables(variables: Sequence[TemplateVariable]) -> None:
    if len(variables) > VARIABLES_MAX:
        raise ServiceError(
            ErrorCode.INVALID_INPUT, f"A template declares at most {VARIABLES_MAX} variables.", field="variables"
        )
    seen: set[str] = set()
    for variable in variables:
        if not _VARIABLE_RE.match(variable.name):
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"{variable.name!r} is not a variable name: use lowercase letters, digits and _.",
                field="variables",
            )
        if variable.name in _RESERVED or variable.name in seen:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, f"The variable name {variable.name!r} is taken.", field="variables"
            )
        if len(variable.description) > 500:
            raise ServiceError(
                ErrorCode.INVALID_INPUT, "A variable's description has at most 500 characters.", field="variables"
            )
        seen.add(variable.name)


def _check_names(source: str, declared: Sequence[TemplateVariable]) -> None:
    tree = sandbox.parse(source)
    known = {*BASE_VARIABLES, *GENERATED_VARIABLES, *sandbox.globals, *(v.name for v in declared)}
    unknown = sorted(meta.find_undeclared_variables(tree) - known)
    if unknown:
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == unknown[0]), None)
        raise ServiceError(
            ErrorCode.TEMPLATE_ERROR,
            f"{f'Line {line}: ' if line else ''}unknown variable {unknown[0]!r}: declare it in `variables` "
            f"or use one of {', '.join(BASE_VARIABLES + GENERATED_VARIABLES)}.",
            field="content",
        )


async def validate(content: str, variables: Sequence[TemplateVariable]) -> None:
    """Compile, check names and dry-render with sample values: a broken template fails here."""
    try:
        await asyncio.to_thread(_check_names, content, variables)
    except ServiceError:
        raise
    except Exception as exc:  # a syntax error, or a parse the parser could not finish
        raise template_error(exc, field="content") from None
    sample = {**SAMPLE_VARIABLES, **{v.name: f"(sample {v.name.replace('_', ' ')})" for v in variables}}
    await render(content, sample)


# --- a person's templates and the defaults -------------------------------------------------------


def _is_admin(user: User) -> bool:
    return user.role == Role.ADMIN


async def templates_for(user: User, *, template_type: str | None = None) -> list[Template]:
    """The person's own templates and the defaults, an own template hiding the default of its type and name."""
    query = Template.filter(Q(user_id=user.id) | Q(user_id=None))
    if template_type is not None:
        query = query.filter(template_type=template_type.strip().lower())
    rows = await query
    own = {(t.template_type, t.template_name) for t in rows if t.user_id is not None}  # type: ignore[attr-defined]
    shown = [t for t in rows if t.user_id is not None or (t.template_type, t.template_name) not in own]  # type: ignore[attr-defined]
    return sorted(shown, key=lambda t: (t.template_type, t.template_name.lower(), t.user_id is None))  # type: ignore[attr-defined]


async def visible_template(user: User, template_id: str) -> Template | None:
    """The person's own template or a default; None for anyone else's, like a missing one."""
    return await Template.get_or_none(Q(id=template_id) & (Q(user_id=user.id) | Q(user_id=None)))


async def _changeable(user: User, template_id: str) -> Template:
    template = await visible_template(user, template_id)
    if template is None:
        raise ServiceError(ErrorCode.NOT_FOUND, "No such template.", field="id")
    if template.user_id is None and not _is_admin(user):  # type: ignore[attr-defined]
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            "System templates cannot be changed: create your own with the same type and name to use instead.",
            field="id",
        )
    return template


async def create_template(
    *,
    user: User,
    template_type: str,
    name: str,
    content: str,
    description: str = "",
    variables: Sequence[TemplateVariable] = (),
) -> Template:
    template_type, name = template_type.strip().lower(), name.strip()
    _check_fields(template_type=template_type, name=name, description=description, content=content)
    _check_variables(variables)
    await validate(content, variables)
    try:
        return await Template.create(
            user_id=user.id,
            template_type=template_type,
            template_name=name,
            description=description,
            content=content,
            variables=[{"name": v.name, "description": v.description} for v in variables],
        )
    except IntegrityError as exc:
        raise ServiceError(
            ErrorCode.CONFLICT, f"You already have a {template_type} template named {name!r}.", field="name"
        ) from exc


async def update_template(
    *,
    user: User,
    template_id: str,
    template_type: str | None = None,
    name: str | None = None,
    content: str | None = None,
    description: str | None = None,
    variables: Sequence[TemplateVariable] | None = None,
) -> Template:
    template = await _changeable(user, template_id)
    new_type = template.template_type if template_type is None else template_type.strip().lower()
    new_name = template.template_name if name is None else name.strip()
    new_content = template.content if content is None else content
    new_description = template.description if description is None else description
    new_variables = variables_of(template) if variables is None else list(variables)
    _check_fields(template_type=new_type, name=new_name, description=new_description, content=new_content)
    _check_variables(new_variables)
    await validate(new_content, new_variables)
    template.template_type, template.template_name, template.content = new_type, new_name, new_content
    template.description = new_description
    template.variables = [{"name": v.name, "description": v.description} for v in new_variables]
    try:
        await template.save()
    except IntegrityError as exc:
        raise ServiceError(
            ErrorCode.CONFLICT, f"There is already a {new_type} template named {new_name!r}.", field="name"
        ) from exc
    return template


async def delete_template(*, user: User, template_id: str) -> None:
    template = await _changeable(user, template_id)
    await template.delete()


async def template_for_generation(user: User, *, template_id: str | None, template_type: str | None) -> Template:
    """By id (own or default), else by type: the person's own (latest changed) first, then the default."""
    if template_id is not None:
        template = await visible_template(user, template_id)
        if template is None:
            raise ServiceError(ErrorCode.NOT_FOUND, "No such template.", field="templateId")
        if template_type is not None and template.template_type != template_type.strip().lower():
            raise ServiceError(ErrorCode.INVALID_INPUT, "The template is not of that type.", field="type")
        return template
    wanted = (template_type or "linkedin").strip().lower()
    own = await Template.filter(user_id=user.id, template_type=wanted).order_by("-updated_at").first()
    found = own or await Template.filter(user_id=None, template_type=wanted).order_by("template_name").first()
    if found is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"There is no {wanted} template.", field="type")
    return found
