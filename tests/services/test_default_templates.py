"""The system's default templates: they render the sample video, and are seeded once and kept."""

from __future__ import annotations

import asyncio

import pytest

from models import Template
from services import default_templates, template_sandbox
from services.templates import SAMPLE_VARIABLES


@pytest.mark.parametrize("default", default_templates.DEFAULT_TEMPLATES, ids=lambda d: d.template_type)
async def test_default_templates_render_the_sample_video(default: default_templates.DefaultTemplate) -> None:
    sample = {**SAMPLE_VARIABLES, **{v.name: f"The {v.name}." for v in default.variables}}
    text = await template_sandbox.render(default.content, sample)
    assert sample["hook"] in text and "\n\n\n" not in text
    # the three best highlights link to their moment
    for highlight in sample["highlights"][:3]:
        assert highlight["url"] in text


async def test_the_thread_numbers_its_posts() -> None:
    [thread] = [d for d in default_templates.DEFAULT_TEMPLATES if d.template_type == "twitter"]
    text = await template_sandbox.render(thread.content, SAMPLE_VARIABLES)
    numbers = [line.split("/", 1)[0] for line in text.splitlines() if line[:1].isdigit() and "/ " in line]
    assert numbers == [str(n) for n in range(1, 1 + 1 + 3 + 3 + 1)]


async def test_defaults_are_seeded_once_even_by_concurrent_starts(asgi_app) -> None:
    await asyncio.gather(*(default_templates.ensure_default_templates() for _ in range(4)))
    await default_templates.ensure_default_templates()
    rows = await Template.filter(user_id=None).order_by("template_type")
    assert [(t.template_type, t.template_name) for t in rows] == [
        ("blog", "Blog outline"),
        ("linkedin", "LinkedIn post"),
        ("twitter", "X/Twitter thread"),
    ]


async def test_seeding_keeps_a_default_an_admin_edited(asgi_app) -> None:
    await default_templates.ensure_default_templates()
    await Template.filter(user_id=None, template_type="linkedin").update(content="{{ hook }}")
    await default_templates.ensure_default_templates()
    assert (await Template.get(user_id=None, template_type="linkedin")).content == "{{ hook }}"
