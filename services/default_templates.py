"""The system's default templates: their texts, and seeding them into the database at start.

They are apart from the template store (services.templates) because they are content, not logic:
three long Jinja texts a person reads and an admin may replace, seeded once per database.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import Template
from services.templates import TemplateVariable


@dataclass(frozen=True, slots=True)
class DefaultTemplate:
    template_type: str
    name: str
    description: str
    content: str
    variables: tuple[TemplateVariable, ...] = ()


_LINKEDIN = """\
{{ hook }}

I just watched "{{ title }}"{% if channel %} by {{ channel }}{% endif %}{% if duration %} ({{ duration }}){% endif %} \
and took notes so you don't have to.

{{ summary|truncate(600, end='…') }}

What stood out:
{% for point in takeaways[:5] %}
→ {{ point }}
{% endfor %}
{% if highlights %}

Worth jumping to:
{% for h in highlights[:3]|sort(attribute='seconds') %}
▸ {{ h.timestamp }} {{ h.title }}: {{ h.url }}
{% endfor %}
{% endif %}

Full video: {{ url }}

What's your take? Tell me in the comments.
{% if hashtags %}

{% for tag in hashtags[:5] %}#{{ tag }}{% if not loop.last %} {% endif %}{% endfor %}
{% endif %}
"""

_THREAD = """\
{% set n = namespace(post=1) %}
1/ {{ hook }}

A thread on "{{ title }}"{% if channel %} by {{ channel }}{% endif %} 🧵
{% for point in takeaways[:5] %}
{% set n.post = n.post + 1 %}

{{ n.post }}/ {{ point|truncate(270, end='…') }}
{% endfor %}
{% for h in highlights[:3]|sort(attribute='seconds') %}
{% set n.post = n.post + 1 %}

{{ n.post }}/ At {{ h.timestamp }}: {{ h.title|truncate(200, end='…') }}
{{ h.url }}
{% endfor %}

{{ n.post + 1 }}/ Watch the whole video{% if duration %} ({{ duration }}){% endif %}: {{ url }}
{% if hashtags %}

{% for tag in hashtags[:3] %}#{{ tag }}{% if not loop.last %} {% endif %}{% endfor %}
{% endif %}
"""

_BLOG = """\
# {{ title }}

> {{ hook }}

*Notes on [{{ title }}]({{ url }}){% if channel %} by {{ channel }}{% endif %}\
{% if duration %}, {{ duration }}{% endif %}.*

## In short

{{ summary }}

## Key takeaways

{% for point in takeaways %}
- {{ point }}
{% endfor %}
{% if chapters %}

## Outline
{% for chapter in chapters %}

### {{ loop.index }}. {{ chapter.title }} ({{ chapter.timestamp }})
{% if chapter.summary %}

{{ chapter.summary }}
{% endif %}
{% endfor %}
{% endif %}
{% if highlights %}

## Moments worth quoting

{% for h in highlights[:5]|sort(attribute='seconds') %}
- [{{ h.timestamp }}]({{ h.url }}) **{{ h.title }}**{{ ': ' ~ h.description|truncate(240, end='…') if h.description }}
{% endfor %}
{% endif %}

## Conclusion

{{ conclusion }}
{% if tags %}

*Tags: {{ tags|join(', ') }}*
{% endif %}
"""

DEFAULT_TEMPLATES = (
    DefaultTemplate(
        "linkedin",
        "LinkedIn post",
        "A LinkedIn post: a hook, what stood out, three moments with links, hashtags.",
        _LINKEDIN,
    ),
    DefaultTemplate(
        "twitter",
        "X/Twitter thread",
        "A numbered thread: a hook, one post per takeaway and per key moment, then the link.",
        _THREAD,
    ),
    DefaultTemplate(
        "blog",
        "Blog outline",
        "A Markdown outline for a blog post: summary, takeaways, one section per chapter, quotable moments.",
        _BLOG,
        (
            TemplateVariable(
                "conclusion",
                "A closing paragraph of two or three sentences: what the reader should "
                "remember or do after the video, drawn from its summary.",
            ),
        ),
    ),
)


async def ensure_default_templates() -> None:
    """Adds the system templates that are missing; run at every start, by any number of processes.

    Existing defaults are left as they are (an admin may have edited one). The partial unique
    index on (type, name) for NULL owners settles a race between starting processes: a row
    another process inserted first is skipped by ON CONFLICT DO NOTHING / INSERT OR IGNORE.
    """
    present = set(await Template.filter(user_id=None).values_list("template_type", "template_name"))
    missing = [
        Template(
            user_id=None,
            template_type=d.template_type,
            template_name=d.name,
            description=d.description,
            content=d.content,
            variables=[{"name": v.name, "description": v.description} for v in d.variables],
        )
        for d in DEFAULT_TEMPLATES
        if (d.template_type, d.name) not in present
    ]
    if missing:
        await Template.bulk_create(missing, ignore_conflicts=True)
