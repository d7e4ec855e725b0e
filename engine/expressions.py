"""JSONata expressions: the ``{{ }}`` template syntax and parsing (evaluation lives beside it).

A string config value that is exactly one ``{{ expr }}`` keeps the result's type; mixed text
interpolates each ``{{ }}``. Condition/switch expressions and ``core.transform`` are bare JSONata.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
WHOLE_TEMPLATE_RE = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.DOTALL)
MAX_EXPRESSION_LENGTH = 10_000
# Bounds on the builtins whose cost does not show up as evaluation steps (the step clock
# cannot stop them): a range allocates and is summed inside one step, ``$pad`` builds its
# string in one step. JSONata's own range limit is 1e7 (13 s for ``$sum`` here).
MAX_RANGE_ITEMS = 10_000
MAX_PAD_WIDTH = 1_000_000


class ExpressionSyntaxError(ValueError):
    """An expression does not parse; ``message`` comes from the JSONata parser."""


@lru_cache(maxsize=1)
def _jsonata_class() -> Any:
    """``jsonata.Jsonata`` with a smaller range bound (built lazily: keeps CLI start-up fast)."""
    from jsonata import jexception, jsonata

    class BoundedJsonata(jsonata.Jsonata):  # type: ignore[misc]
        def evaluate_range_expression(self, lhs: Any, rhs: Any) -> Any:
            if isinstance(lhs, int) and isinstance(rhs, int) and not isinstance(lhs, bool) \
                    and not isinstance(rhs, bool) and rhs - lhs + 1 > MAX_RANGE_ITEMS:
                raise jexception.JException("D2014", -1, rhs - lhs + 1)
            return super().evaluate_range_expression(lhs, rhs)

    return BoundedJsonata


def _re2_engine(pattern: str, flags: Any) -> Any:
    """Regex literals (``/.../i``) compile with RE2: linear time whatever the pattern and text."""
    import re2

    options = re2.Options()
    options.case_sensitive = not flags.case_insensitive
    options.log_errors = False
    if flags.multiline:
        options.posix_syntax = True
        options.one_line = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise ExpressionSyntaxError(f"regular expression /{pattern}/ is not supported (RE2 syntax: no "
                                    f"backreferences or lookaround): {exc}") from None


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Any:
    """Parse a bare JSONata expression (cached). Raises ``ExpressionSyntaxError``."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    if not source.strip():
        raise ExpressionSyntaxError("expression is empty")
    try:
        return _jsonata_class()(source, _re2_engine)
    except ExpressionSyntaxError:
        raise
    except Exception as exc:  # the parser raises JException and, on odd input, other errors
        raise ExpressionSyntaxError(str(exc) or type(exc).__name__) from None


# Builtins whose cost inside their one step grows faster than their input (jsonata-python's
# $distinct compares every pair: 10,000 items take about a second).
SUPERLINEAR_BUILTINS = frozenset({"distinct"})


@lru_cache(maxsize=4096)
def needs_worker(source: str) -> bool:
    """True when the expression's cost is spent inside builtins, out of the step clock's reach:
    a range operator (``[1..n]``, sized by run-time values) or a super-linear builtin. The
    service evaluates those in a worker process, never inline."""
    seen: set[int] = set()

    def walk(node: Any) -> bool:
        if id(node) in seen:
            return False
        seen.add(id(node))
        kind, value = getattr(node, "type", None), getattr(node, "value", None)
        if (kind == "binary" and value == "..") or (kind == "variable" and value in SUPERLINEAR_BUILTINS):
            return True
        for key, child in vars(node).items():
            if key == "tokenizer" or isinstance(child, str | int | float | bool) or child is None:
                continue
            if isinstance(child, list | tuple):
                if any(hasattr(c, "type") and walk(c) for c in child):
                    return True
            elif hasattr(child, "type") and walk(child):
                return True
        return False

    return walk(compile_expression(source.strip()).ast)


def templates_in(value: str) -> list[str]:
    """The expressions inside ``{{ }}`` in a string, in order."""
    return [m.group(1).strip() for m in TEMPLATE_RE.finditer(value)]


def is_whole_template(value: Any) -> bool:
    """True when ``value`` is a string that is exactly one ``{{ expr }}`` (keeps the result type)."""
    return isinstance(value, str) and whole_expression(value) is not None


def whole_expression(text: str) -> str | None:
    """The expression of a string that is exactly one ``{{ expr }}`` (its result keeps its type),
    else None (the string is text with templates interpolated, see :func:`splice`)."""
    match = WHOLE_TEMPLATE_RE.match(text)
    return match.group(1) if match is not None and text.count("{{") == 1 else None


def splice(text: str, results: list[Any]) -> str:
    """``text`` with its n-th ``{{ }}`` replaced by the n-th result as text (``null`` → empty,
    objects as compact JSON); the results are those of :func:`templates_in`'s expressions."""
    remaining = iter(results)
    return TEMPLATE_RE.sub(lambda _m: _to_text(next(remaining)), text)


def iter_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value, with its JSON path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{i}]")


# --- evaluation ------------------------------------------------------------------------------
# Appended by the runtime: evaluation with a time limit, a recursion limit and an output-size
# limit. The scope is plain JSON data ({trigger, nodes, item, index, vars, execution}); nothing
# else (no Python objects, no secrets) is reachable from an expression.

DEFAULT_TIME_LIMIT_MS = 1_000
DEFAULT_OUTPUT_LIMIT_BYTES = 1024 * 1024
MAX_RECURSION_DEPTH = 400


class ExpressionEvaluationError(ValueError):
    """An expression failed at run time (type error, undefined function, limit exceeded)."""

    def __init__(self, message: str, *, expression: str, code: str = "expression_error") -> None:
        super().__init__(message)
        self.expression = expression
        self.code = code


class SliceExceeded(Exception):
    """Internal: an inline evaluation used up its slice (see ``engine.expression_pool``)."""


@lru_cache(maxsize=1)
def _bounded_builtins() -> dict[str, Any]:
    """Builtins shadowed in every evaluation: ``$pad`` with a width bound (``$eval`` is bound
    per evaluation, see :func:`_bounded_eval`)."""
    from jsonata import functions, jsonata

    class Pad:
        def call(self, _input: Any, args: Any) -> Any:
            width = args[1] if len(args) > 1 else None
            if isinstance(width, int | float) and abs(width) > MAX_PAD_WIDTH:
                raise ExpressionLimitSignal(f"$pad width {width:g} is over the limit of {MAX_PAD_WIDTH}")
            return functions.Functions.pad(*(list(args) + [None] * (3 - len(args)))[:3])

    return {"pad": jsonata.Jsonata.JFunction(Pad(), "<s-ns?:s>")}


class _BoundedEval:
    """``$eval`` through :func:`compile_expression` and this evaluation's frame: the stock one
    parses with the unbounded class and outside the time box."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def call(self, input_: Any, args: Any) -> Any:
        source = args[0] if args else None
        if source is None:
            return None
        focus = args[1] if len(args) > 1 and args[1] is not None else input_
        return compile_expression(str(source).strip()).evaluate(focus, self.frame)


def _bounded_eval(frame: Any) -> Any:
    from jsonata import jsonata

    function = jsonata.Jsonata.JFunction(_BoundedEval(frame), None)
    function.signature = _eval_signature()
    return function


@lru_cache(maxsize=1)
def _eval_signature() -> Any:
    from jsonata import signature

    return signature.Signature("<sx?:x>", "eval")


class ExpressionLimitSignal(Exception):
    """Internal: a bounded builtin refused its arguments."""


def evaluate(
    source: str,
    scope: Any,
    *,
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES,
    slice_ms: float | None = None,
    cpu_clock: bool = False,
) -> Any:
    """Evaluate a bare JSONata expression against ``scope`` within the time and size limits.

    Raises ``ExpressionSyntaxError`` when it does not parse and ``ExpressionEvaluationError``
    when it fails, runs longer than ``time_limit_ms`` or yields more than ``output_limit_bytes``.
    With ``slice_ms``, raises ``SliceExceeded`` instead once that much time has passed (the
    caller moves the evaluation to a supervised worker process).

    The clock is read between evaluation steps; builtins whose cost does not show up as steps
    are bounded before they run (ranges, ``$pad``, RE2 for regexes). Only a worker process
    (``engine.expression_pool``) makes the limit hard, with a kill. With ``cpu_clock`` the limit
    counts this thread's CPU time rather than wall time (a worker process on a loaded machine
    is not charged for the time it waited for a CPU).
    """
    from jsonata import jsonata as jsonata_mod

    expr = compile_expression(source.strip())
    # The parsed expression is cached and shared, so the time box is per call: jsonata-python
    # looks its entry callback up in the evaluation frame, which a fresh Frame provides. The
    # clock is read every 16th step (jsonata's own Timebox reads it twice per step); runaway
    # recursion ends in Python's RecursionError, caught below.
    frame = jsonata_mod.Jsonata.Frame(None)
    clock = time.thread_time if cpu_clock else time.perf_counter
    started = clock()
    deadline = started + (min(slice_ms, time_limit_ms) if slice_ms is not None else time_limit_ms) / 1000
    steps = 0
    sliced = False
    slicing = slice_ms is not None

    def entry(_expr: Any, _input: Any, _env: Any) -> None:
        nonlocal steps, sliced
        steps += 1
        # In a slice (inline in the service) the clock is read at every step.
        if (slicing or not steps & 15) and clock() > deadline:
            sliced = slice_ms is not None and slice_ms < time_limit_ms
            raise jsonata_mod.jexception.JException("D1012", -1, time_limit_ms)

    for name, function in _bounded_builtins().items():
        frame.bind(name, function)
    frame.bind("eval", _bounded_eval(frame))
    frame.bind("__evaluate_entry", entry)
    expr.set_validate_input(False)  # the scope is JSON data built by the engine; skip the O(n) walk
    try:
        result = expr.evaluate(scope, frame)
    except RecursionError:
        raise ExpressionEvaluationError(
            "expression recursed too deeply", expression=source, code="expression_limit"
        ) from None
    except ExpressionLimitSignal as exc:
        raise ExpressionEvaluationError(f"expression refused: {exc}", expression=source,
                                        code="expression_limit") from None
    except MemoryError:
        raise ExpressionEvaluationError("expression used more memory than allowed", expression=source,
                                        code="expression_limit") from None
    except Exception as exc:  # JException and friends
        code = getattr(exc, "error", None)
        if code == "D1012" and sliced:
            raise SliceExceeded() from None
        if code in ("D1012", "D1011"):
            what = f"ran longer than {time_limit_ms} ms" if code == "D1012" else "recursed too deeply"
            raise ExpressionEvaluationError(
                f"expression {what}", expression=source, code="expression_limit"
            ) from None
        if code == "D2014":
            raise ExpressionEvaluationError(
                f"expression refused: a range of more than {MAX_RANGE_ITEMS} items", expression=source,
                code="expression_limit") from None
        raise ExpressionEvaluationError(
            f"expression {source!r} failed: {exc}", expression=source
        ) from None
    _check_result(result, source, output_limit_bytes)
    return result


def _check_result(result: Any, source: str, limit: int) -> None:
    if result is None or isinstance(result, bool | int | float):
        return
    if isinstance(result, str):
        size = len(result)
    elif isinstance(result, dict | list):
        import json

        try:
            size = len(json.dumps(result, separators=(",", ":"), ensure_ascii=False))
        except (TypeError, ValueError):
            raise ExpressionEvaluationError(
                f"expression {source!r} returned a value that is not JSON", expression=source
            ) from None
    else:
        raise ExpressionEvaluationError(
            f"expression {source!r} returned a {type(result).__name__}, not JSON data", expression=source
        )
    if size > limit:
        raise ExpressionEvaluationError(
            f"expression result is {size} bytes, over the limit of {limit}", expression=source,
            code="expression_limit",
        )


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def render(
    value: Any,
    scope: Any,
    *,
    skip_keys: frozenset[str] = frozenset(),
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES,
) -> Any:
    """Interpolate every ``{{ }}`` inside a JSON value (a config).

    A string that is exactly one template keeps the result's type; mixed text gets each result
    as text (``null`` → empty, objects as compact JSON). Top-level keys in ``skip_keys`` are
    left alone (bare expressions such as ``core.transform``'s ``expression``).
    """
    def one(source: str) -> Any:
        return evaluate(source, scope, time_limit_ms=time_limit_ms, output_limit_bytes=output_limit_bytes)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            if "{{" not in v:
                return v
            whole = whole_expression(v)
            if whole is not None:
                return one(whole)
            return splice(v, [one(source) for source in templates_in(v)])
        if isinstance(v, dict):
            return {k: walk(item) for k, item in v.items()}
        if isinstance(v, list):
            return [walk(item) for item in v]
        return v

    if isinstance(value, dict) and skip_keys:
        return {k: (item if k in skip_keys else walk(item)) for k, item in value.items()}
    return walk(value)


def has_templates(value: Any) -> bool:
    """True when any string inside ``value`` contains ``{{``."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(has_templates(v) for v in value.values())
    if isinstance(value, list):
        return any(has_templates(v) for v in value)
    return False
