"""The template sandbox: hostile templates fail fast, errors carry their line, and legitimate ones render."""

from __future__ import annotations

import time

import pytest

from services import template_sandbox
from services.errors import ErrorCode, ServiceError
from services.templates import SAMPLE_VARIABLES

HOSTILE = {
    "python internals through a string": "{{ ''.__class__.__mro__ }}",
    "a global's constructor": "{{ cycler.__init__.__globals__ }}",
    "the template's own dict": "{{ self.__dict__ }}",
    "lipsum's globals": "{{ lipsum.__globals__ }}",
    "a private attribute": "{{ self._TemplateReference__context }}",
    "a private attribute by subscript": "{{ joiner()['_sep'] }}",
    "nested ranges": "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
    "nested loops over text, printing nothing": (
        "{% set s = summary * 5 %}{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}"
    ),
    "a gigabyte string": "{{ 'x' * 10**9 }}",
    "a huge power": "{{ 2 ** (10 ** 9) }}",
    "squaring in a loop": (
        "{% set n = namespace(v=7) %}{% for i in range(64) %}{% set n.v = n.v * n.v %}{% endfor %}{{ n.v }}"
    ),
    "a huge range joined": "{{ range(10**9)|join }}",
    "a huge join of big strings": "{{ (['y' * 50000] * 1000)|join }}",
    "doubling with ~": (
        "{% set n = namespace(s='x') %}{% for i in range(60) %}{% set n.s = n.s ~ n.s %}{% endfor %}{{ n.s }}"
    ),
    "doubling nested lists": (
        "{% set n = namespace(l=[1]) %}{% for i in range(60) %}{% set n.l = [n.l, n.l] %}{% endfor %}{{ n.l }}"
    ),
    "a macro doubling its output": (
        "{% macro f(n) %}{% if n %}{% set x = f(n - 1) %}{{ x }}{{ x }}{% endif %}x{% endmacro %}{{ f(60) }}"
    ),
    "endless recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "a printf width": "{{ '%0999999999d' % 1 }}",
    "a format filter width": "{{ '%0999999999d'|format(1) }}",
    "str.format": "{{ '{0:>999999999}'.format(1) }}",
    "a centred gigabyte": "{{ 'x'|center(1000000000) }}",
    "str.center": "{{ 'x'.center(1000000000) }}",
    "int.to_bytes": "{{ (1).to_bytes(1000000000, 'big') }}",
    "rounding to a googol": "{{ 123|round(-1000000000) }}",
    "replace with empty pattern": "{{ (summary * 100)|replace('', 'xxxxxxxxxxxxxxxxxxxx') }}",
    "a huge indent": "{{ (summary * 50)|indent(1000000) }}",
    "a huge batch": "{{ [1]|batch(1000000000, 0)|list }}",
    "too much output": "{% for i in range(10000) %}{{ summary }}{% endfor %}",
    "mutating a list": "{% set l = [] %}{{ l.append(1) }}",
    "a class method": "{{ dict.fromkeys(range(10), 1) }}",
    "including a file": "{% include '/etc/passwd' %}",
    "deep nesting": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_templates_fail_fast_with_a_template_error(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ServiceError) as failure:
        await template_sandbox.render(source, SAMPLE_VARIABLES)
    took = time.perf_counter() - started
    assert (failure.value.code, failure.value.field) == (ErrorCode.TEMPLATE_ERROR, "content")
    assert failure.value.message
    assert took < 1.0, f"took {took:.2f} s"


async def test_unsafe_attribute_errors_say_what_and_where() -> None:
    with pytest.raises(ServiceError) as failure:
        await template_sandbox.render("Hello\n\n{{ ''.__class__ }}", SAMPLE_VARIABLES)
    assert failure.value.message == "Line 3: access to attribute '__class__' of 'str' object is unsafe"


async def test_syntax_errors_give_the_line() -> None:
    with pytest.raises(ServiceError) as failure:
        await template_sandbox.render("{{ title }}\n{% for h in highlights %}\n{{ h.title }}\n", SAMPLE_VARIABLES)
    assert failure.value.code is ErrorCode.TEMPLATE_ERROR
    assert failure.value.message.startswith("Line 3: ") and "endfor" in failure.value.message


async def test_templates_render_plain_text_and_block_lines_leave_no_gaps() -> None:
    source = (
        "{{ hook }} <b>&</b>\n"
        "{% for h in highlights[:2] %}\n"
        "{{ loop.index }}. {{ h.title|upper }} ({{ h.timestamp }}) {{ h.url }}\n"
        "{% endfor %}\n"
        "{% set n = namespace(words=0) %}{% for s in summary.split('. ') %}"
        "{% set n.words = n.words + s.split()|length %}{% endfor %}\n"
        "{{ n.words }} words, {{ range(3)|list }}, {{ hashtags|map('lower')|join(' ') }}"
    )
    text = await template_sandbox.render(source, SAMPLE_VARIABLES)
    assert text == (
        "Every compiler is just a few small passes in a row. <b>&</b>\n"
        "1. POINT 1 (01:00) https://www.youtube.com/watch?v=cmPl3rTk9aE&t=60s\n"
        "2. POINT 2 (02:00) https://www.youtube.com/watch?v=cmPl3rTk9aE&t=120s\n"
        "35 words, [0, 1, 2], compilers python programming"
    )


async def test_a_template_may_use_its_whole_budget_legitimately() -> None:
    # 9,000 range items, thousands of steps and 90 KB of output are all within the limits
    source = "{% for i in range(9000) %}{{ '%05d' % i }}{{ ' ' * 4 }}|{% endfor %}"
    assert len(await template_sandbox.render(source, SAMPLE_VARIABLES)) == 9000 * 10
