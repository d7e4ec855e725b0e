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


class ExpressionSyntaxError(ValueError):
    """An expression does not parse; ``message`` comes from the JSONata parser."""


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Any:
    """Parse a bare JSONata expression (cached). Raises ``ExpressionSyntaxError``."""
    import jsonata  # imported lazily: keeps CLI start-up fast

    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionSyntaxError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    if not source.strip():
        raise ExpressionSyntaxError("expression is empty")
    try:
        return jsonata.Jsonata(source)
    except Exception as exc:  # the parser raises JException and, on odd input, other errors
        raise ExpressionSyntaxError(str(exc) or type(exc).__name__) from None


def templates_in(value: str) -> list[str]:
    """The expressions inside ``{{ }}`` in a string, in order."""
    return [m.group(1).strip() for m in TEMPLATE_RE.finditer(value)]


def is_whole_template(value: Any) -> bool:
    """True when ``value`` is a string that is exactly one ``{{ expr }}`` (keeps the result type)."""
    return isinstance(value, str) and WHOLE_TEMPLATE_RE.match(value) is not None and value.count("{{") == 1


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


def evaluate(
    source: str,
    scope: Any,
    *,
    time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT_BYTES,
) -> Any:
    """Evaluate a bare JSONata expression against ``scope`` within the time and size limits.

    Raises ``ExpressionSyntaxError`` when it does not parse and ``ExpressionEvaluationError``
    when it fails, runs longer than ``time_limit_ms`` or yields more than ``output_limit_bytes``.
    """
    from jsonata import jsonata as jsonata_mod

    expr = compile_expression(source.strip())
    # The parsed expression is cached and shared, so the time box is per call: jsonata-python
    # looks its entry callback up in the evaluation frame, which a fresh Frame provides. The
    # clock is read every 16th step (jsonata's own Timebox reads it twice per step); runaway
    # recursion ends in Python's RecursionError, caught below.
    frame = jsonata_mod.Jsonata.Frame(None)
    deadline = time.perf_counter() + time_limit_ms / 1000
    steps = 0

    def entry(_expr: Any, _input: Any, _env: Any) -> None:
        nonlocal steps
        steps += 1
        if not steps & 15 and time.perf_counter() > deadline:
            raise jsonata_mod.jexception.JException("D1012", -1, time_limit_ms)

    frame.bind("__evaluate_entry", entry)
    expr.set_validate_input(False)  # the scope is JSON data built by the engine; skip the O(n) walk
    try:
        result = expr.evaluate(scope, frame)
    except RecursionError:
        raise ExpressionEvaluationError(
            "expression recursed too deeply", expression=source, code="expression_limit"
        ) from None
    except Exception as exc:  # JException and friends
        code = getattr(exc, "error", None)
        if code in ("D1012", "D1011"):
            what = f"ran longer than {time_limit_ms} ms" if code == "D1012" else "recursed too deeply"
            raise ExpressionEvaluationError(
                f"expression {what}", expression=source, code="expression_limit"
            ) from None
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
    limits = {"time_limit_ms": time_limit_ms, "output_limit_bytes": output_limit_bytes}

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            if "{{" not in v:
                return v
            if is_whole_template(v):
                match = WHOLE_TEMPLATE_RE.match(v)
                assert match is not None
                return evaluate(match.group(1), scope, **limits)
            return TEMPLATE_RE.sub(lambda m: _to_text(evaluate(m.group(1), scope, **limits)), v)
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
