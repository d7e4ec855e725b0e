"""JSONata expressions: the ``{{ }}`` template syntax and parsing (evaluation lives beside it).

A string config value that is exactly one ``{{ expr }}`` keeps the result's type; mixed text
interpolates each ``{{ }}``. Condition/switch expressions and ``core.transform`` are bare JSONata.
"""

from __future__ import annotations

import re
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
