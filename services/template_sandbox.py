"""The Jinja sandbox that renders a template, a person's code run on the server, safely.

Templates render in Jinja2's immutable sandbox (no attribute starting with `_`, no Python
internals, no mutation of lists and dicts), and every way a template could spend unbounded time or
memory is metered against one budget per render:

- loop steps and calls (every `{% for %}` iterates through `guard_iter`, every call ticks), and a
  deadline checked at each tick, so nested loops stop within the time budget;
- `range()` items, charged when the range is made;
- the size of every value a template makes (list, tuple and dict literals, `~`, `+ * % **`, calls,
  filters, every `{{ … }}`), checked before the expensive step where it can be predicted
  (`'x' * 10**9` is refused before Python allocates it) and after it otherwise;
- the output, read with `generate()` and cut off past OUTPUT_MAX_CHARS.

It is apart from the template store (services.templates) because it knows nothing of who owns a
template or which variables it may use: it turns source and values into text, or into a
TEMPLATE_ERROR with the line, under these limits.
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

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from services.errors import ErrorCode, ServiceError

OUTPUT_MAX_CHARS = 100_000
VALUE_MAX_SIZE = 100_000  # characters plus items of any one value a template makes
STEP_BUDGET = 100_000  # loop iterations plus calls in one render
RANGE_BUDGET = 10_000  # items of all range() calls in one render
TIME_BUDGET_SECONDS = 0.5
INT_MAX_BITS = 4_096
_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_PRINTF_MAX_WIDTH = 100


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


sandbox = _Sandbox()


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> JinjaTemplate:
    return sandbox.from_string(source)


def _template_line(error: BaseException) -> int | None:
    if isinstance(error, TemplateSyntaxError):
        return error.lineno
    line, tb = None, error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def template_error(error: BaseException, *, field: str) -> ServiceError:
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
        raise template_error(exc, field=field) from None
