"""Content templates (seed 004): system defaults and a person's own, rendered in a sandbox.

Templates are user input run on the server. They render in Jinja2's immutable sandbox (no
attribute starting with `_`, no Python internals, no mutation of lists and dicts), and every way a
template could spend unbounded time or memory is metered against one budget per render:

- loop steps and calls (every `{% for %}` iterates through `guard_iter`, every call ticks), and a
  deadline checked at each tick, so nested loops stop within the time budget;
- `range()` items, charged when the range is made;
- the size of every value a template makes (list, tuple and dict literals, `~`, `+ * % **`, calls,
  filters, every `{{ … }}`), checked before the expensive step where it can be predicted
  (`'x' * 10**9` is refused before Python allocates it) and after it otherwise;
- the output, read with `generate()` and cut off past OUTPUT_MAX_CHARS.

A template is compiled, checked for unknown variables and dry-rendered when it is saved, so a
broken one is refused then and not when someone uses it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models import Role, Template, User
from services.errors import ErrorCode, ServiceError

CONTENT_MAX_CHARS = 20_000
OUTPUT_MAX_CHARS = 100_000
VALUE_MAX_SIZE = 100_000  # characters plus items of any one value a template makes
STEP_BUDGET = 100_000  # loop iterations plus calls in one render
RANGE_BUDGET = 10_000  # items of all range() calls in one render
TIME_BUDGET_SECONDS = 0.5
INT_MAX_BITS = 4_096
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
_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_PRINTF_MAX_WIDTH = 100


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


# --- the sandbox -------------------------------------------------------------------------------


class TemplateLimit(SecurityError):
    """A template went past one of the render budgets."""


@dataclass(slots=True)
class _Budget:
    deadline: float
    steps: int = STEP_BUDGET
    range_items: int = RANGE_BUDGET

    def tick(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise TemplateLimit(f"the template does too much work (over {STEP_BUDGET:,} loop steps and calls)")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"the template took longer than {TIME_BUDGET_SECONDS:g} s to render")


_budget: ContextVar[_Budget | None] = ContextVar("vidgraph_template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    if budget is None:
        # also how compile-time constant folding is kept from running filters outside a budget
        raise RuntimeError("templates run only inside a render budget")
    return budget


def _too_large() -> TemplateLimit:
    return TemplateLimit(f"the template builds a value larger than {VALUE_MAX_SIZE:,} characters or items")


def _weigh(value: Any) -> int:
    """Characters plus items of a value, walked through lists, dicts and namespaces; raises past the cap."""
    total, stack, visits, budget = 0, [value], 0, _budget.get()
    while stack:
        item = stack.pop()
        visits += 1
        if budget is not None and visits % 1024 == 0:
            budget.check_time()  # a value can be a large shared structure: weighing it takes time too
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool | float) or item is None:
            total += 1
        elif isinstance(item, int):
            total += max(1, item.bit_length() // 3)  # about its decimal digits
        elif isinstance(item, range):
            total += len(item)
        elif isinstance(item, dict):
            total += len(item)
            if total <= VALUE_MAX_SIZE:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= VALUE_MAX_SIZE:
                stack.extend(item)
        elif isinstance(item, Namespace):
            # a namespace is the one mutable thing a template has: weigh what it holds now
            stack.append(item._Namespace__attrs)  # type: ignore[attr-defined]
        else:
            total += 1
        if total > VALUE_MAX_SIZE:
            raise _too_large()
    return total


def _checked(value: Any) -> Any:
    _weigh(value)
    return value


def _budget_range(*args: int) -> range:
    numbers = range(*args)
    budget = _current()
    budget.range_items -= len(numbers)
    if budget.range_items < 0:
        raise TemplateLimit(f"range() is limited to {RANGE_BUDGET:,} items per render")
    return numbers


def _check_printf(fmt: str) -> None:
    for match in _PRINTF_RE.finditer(fmt):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > _PRINTF_MAX_WIDTH):
                raise TemplateLimit(f"format widths are limited to {_PRINTF_MAX_WIDTH}")


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        if right * _int_bits(left) > INT_MAX_BITS:
            raise TemplateLimit(f"numbers are limited to {INT_MAX_BITS} bits")
    elif operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            if _int_bits(left) + _int_bits(right) > INT_MAX_BITS:
                raise TemplateLimit(f"numbers are limited to {INT_MAX_BITS} bits")
        elif isinstance(left, int) or isinstance(right, int):
            times, sequence = (left, right) if isinstance(left, int) else (right, left)
            if times > 0 and _weigh(sequence) * times > VALUE_MAX_SIZE:
                raise _too_large()
    elif operator == "+" and not isinstance(left, int | float):
        if _weigh(left) + _weigh(right) > VALUE_MAX_SIZE:
            raise _too_large()
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)
        _weigh(right)


def _materialised(value: Any) -> Any:
    """An iterator as a list, read under the budget: what a filter is about to consume."""
    if not isinstance(value, Iterator):
        return value
    budget, items, size = _current(), [], 0
    for item in value:
        budget.tick()
        size += _weigh(item) + 1
        if size > VALUE_MAX_SIZE:
            raise _too_large()
        items.append(item)
    return items


def _at_most(limit: int, what: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        size = len(value) if isinstance(value, str) else value
        if isinstance(size, int) and abs(size) > limit:
            raise TemplateLimit(f"{what} is limited to {limit}")

    return check


def _check_replace(args: Mapping[str, Any]) -> None:
    text, old, new = str(args["s"]), str(args["old"]), str(args["new"])
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * max(0, len(new) - len(old)) > VALUE_MAX_SIZE:
        raise _too_large()


def _check_join(args: Mapping[str, Any]) -> None:
    items = args["value"]
    if isinstance(items, Sequence) and len(items) * len(str(args.get("d", ""))) + _weigh(items) > VALUE_MAX_SIZE:
        raise _too_large()


def _check_sum(args: Mapping[str, Any]) -> None:
    if args.get("attribute") is None and not all(isinstance(n, int | float) for n in args["iterable"]):
        raise TemplateLimit("sum adds numbers only")


# Arguments a filter multiplies its output by: checked before the filter allocates anything.
_FILTER_ARGUMENT_CHECKS: dict[str, dict[str, Callable[[Any], None]]] = {
    "center": {"width": _at_most(VALUE_MAX_SIZE, "center width")},
    "indent": {"width": _at_most(64, "indent width")},
    "wordwrap": {"wrapstring": _at_most(16, "wordwrap wrapstring")},
    "batch": {"linecount": _at_most(VALUE_MAX_SIZE, "batch size")},
    "slice": {"slices": _at_most(1_000, "slice count")},
    "round": {"precision": _at_most(100, "round precision")},
    "tojson": {"indent": _at_most(16, "tojson indent")},
    "urlize": {name: _at_most(200, f"urlize {name}") for name in ("target", "rel")},
    "format": {"value": lambda fmt: _check_printf(str(fmt))},
}
_FILTER_CHECKS: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "replace": _check_replace,
    "join": _check_join,
    "sum": _check_sum,
}


def _guarded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(fn)
    passes_first = getattr(fn, "jinja_pass_arg", None) is not None
    argument_checks = _FILTER_ARGUMENT_CHECKS.get(name, {})
    whole_check = _FILTER_CHECKS.get(name)

    @functools.wraps(fn)  # keeps `jinja_pass_arg`, so Jinja still passes the context first
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _current().tick()
        start = 1 if passes_first else 0
        args = (*args[:start], *(_materialised(a) for a in args[start:]))
        for value in (*args[start:], *kwargs.values()):
            _weigh(value)
        if argument_checks or whole_check:
            bound = signature.bind(*args, **kwargs).arguments
            for param, check in argument_checks.items():
                if bound.get(param) is not None:
                    check(bound[param])
            if whole_check is not None:
                whole_check(bound)
        return _checked(fn(*args, **kwargs))

    return guarded


def _call_environment(method: str, *args: nodes.Node, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(method, lineno=lineno), list(args), [], None, None, lineno=lineno)


class _Guards(NodeTransformer):
    """Routes loops, `~` and list/tuple/dict literals through the environment's meters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call_environment("guard_iter", node.iter, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return _call_environment("guard_join", parts, lineno=node.lineno)

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node  # `{% for a, b in … %}` and `{% set a, b = … %}` targets
        return _call_environment("guard_value", node, lineno=node.lineno)

    visit_List = visit_Tuple = visit_Dict = _literal


_BUILTIN_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        "capitalize casefold count endswith find index isalnum isalpha isdigit islower isnumeric isspace "
        "istitle isupper lower lstrip partition removeprefix removesuffix rfind rindex rpartition rsplit "
        "rstrip split splitlines startswith strip swapcase title upper".split()
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    range: frozenset({"count", "index"}),
}
_NO_METHODS = (int, float, complex, bytes, set, frozenset)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            optimized=False,
            finalize=_checked,
        )
        self.filters = {name: _guarded_filter(name, fn) for name, fn in self.filters.items()}
        # lipsum(n=10**6) would spend the whole budget in one call; nobody needs it in a post
        self.globals.pop("lipsum", None)
        self.globals["range"] = _budget_range

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        guarded: nodes.Template = _Guards().visit(tree)
        return guarded

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value) or isinstance(obj, type):
            return False
        if not callable(value):
            return True
        # methods of plain values: only those that cannot build something huge (no center, zfill,
        # format, join, to_bytes, …); Jinja's own helpers (loop, cycler, self) keep the defaults
        for kind, allowed in _BUILTIN_METHODS.items():
            if isinstance(obj, kind):
                return attr in allowed
        return not isinstance(obj, _NO_METHODS)

    def wrap_str_format(self, value: Any) -> None:
        # str.format is refused like any other method off the list: `'{:>999999999}'.format(1)`
        return None

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # the default hands back an undefined that fails only when printed; fail where it is touched
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _current().tick()
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _current().tick()
        _check_binop(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        # the body of a macro, a {% set %} block or a {% filter %} block, about to be joined
        pieces = list(parts)
        if sum(len(p) for p in pieces) > VALUE_MAX_SIZE:
            raise _too_large()
        return "".join(pieces)

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = _current()
        for item in iterable:
            budget.tick()
            yield item

    def guard_join(self, parts: tuple[Any, ...]) -> str:
        if sum(_weigh(p) for p in parts) > VALUE_MAX_SIZE:
            raise _too_large()
        return "".join(str(p) for p in parts)

    def guard_value(self, value: Any) -> Any:
        # reached through `call`, which weighs what it returns: the literal is checked there
        return value


_sandbox = _Sandbox()


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> JinjaTemplate:
    return _sandbox.from_string(source)


def _template_line(error: BaseException) -> int | None:
    if isinstance(error, TemplateSyntaxError):
        return error.lineno
    line, tb = None, error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _template_error(error: BaseException, *, field: str) -> ServiceError:
    text = error.message if isinstance(error, TemplateError) and error.message else str(error)
    if not isinstance(error, TemplateError | RecursionError):
        text = f"{type(error).__name__}: {text}"
    elif isinstance(error, RecursionError):
        text = "the template nests or calls itself too deeply"
    line = _template_line(error)
    where = f"Line {line}: " if line else ""
    return ServiceError(ErrorCode.TEMPLATE_ERROR, f"{where}{' '.join(text.split())[:300]}", field=field)


def _render_now(source: str, variables: Mapping[str, Any]) -> str:
    template = _compiled(source)
    token = _budget.set(_Budget(deadline=time.monotonic() + TIME_BUDGET_SECONDS))
    chunks = template.generate(dict(variables))
    try:
        out, size = [], 0
        for chunk in chunks:
            size += len(chunk)
            if size > OUTPUT_MAX_CHARS:
                raise TemplateLimit(f"the output is longer than {OUTPUT_MAX_CHARS:,} characters")
            out.append(chunk)
        return "".join(out)
    finally:
        if isinstance(chunks, Generator):
            chunks.close()
        _budget.reset(token)


async def render(source: str, variables: Mapping[str, Any], *, field: str = "content") -> str:
    """The template's text with `variables`; a TEMPLATE_ERROR (with the line) when it fails."""
    try:
        # off the event loop: a hostile template may spend its whole time budget
        return await asyncio.to_thread(_render_now, source, variables)
    except Exception as exc:  # a template is user code: whatever it raises is its own error
        raise _template_error(exc, field=field) from None


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
    tree = _sandbox.parse(source)
    known = {*BASE_VARIABLES, *GENERATED_VARIABLES, *_sandbox.globals, *(v.name for v in declared)}
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
        raise _template_error(exc, field="content") from None
    sample = {**SAMPLE_VARIABLES, **{v.name: f"(sample {v.name.replace('_', ' ')})" for v in variables}}
    await render(content, sample)


# --- the system defaults ------------------------------------------------------------------------


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
