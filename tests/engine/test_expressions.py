"""Expression evaluation: JSONata with {{ }} interpolation, time and size limits, a closed scope."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import (
    ExpressionEvaluationError,
    ExpressionSyntaxError,
    evaluate,
    has_templates,
    is_whole_template,
    render,
)

SCOPE = {"trigger": {"name": "Ada", "n": 3, "items": [1, 2, 3]}, "nodes": {"fetch": {"body": {"total": 12000}}},
         "vars": {}, "execution": {"id": "ex_1"}}


def test_bare_expressions_read_the_scope() -> None:
    assert evaluate("nodes.fetch.body.total > 10000", SCOPE) is True
    assert evaluate("$sum(trigger.items)", SCOPE) == 6
    assert evaluate("trigger.missing", SCOPE) is None
    assert evaluate("{'who': trigger.name}", SCOPE) == {"who": "Ada"}


def test_whole_template_keeps_the_type_and_mixed_text_interpolates() -> None:
    rendered = render({"list": "{{ trigger.items }}", "num": " {{ trigger.n }} ", "text": "Hi {{ trigger.name }}!",
                       "two": "{{ trigger.n }}/{{ trigger.name }}", "obj": "{{ {'a': true} }}", "plain": "no braces",
                       "nested": [{"x": "{{ trigger.n * 2 }}"}], "flag": "{{ trigger.n > 2 }}",
                       "mixed_obj": "v={{ {'a': 1} }}", "null": "[{{ trigger.none }}]", "float": "{{ 1.5 }}"}, SCOPE)
    assert rendered == {"list": [1, 2, 3], "num": 3, "text": "Hi Ada!", "two": "3/Ada", "obj": {"a": True},
                        "plain": "no braces", "nested": [{"x": 6}], "flag": True, "mixed_obj": 'v={"a":1}',
                        "null": "[]", "float": 1.5}


def test_skip_keys_leave_bare_fields_alone() -> None:
    config = {"expression": "{{ not interpolated }}", "other": "{{ trigger.n }}"}
    assert render(config, SCOPE, skip_keys=frozenset({"expression"})) == {"expression": "{{ not interpolated }}", "other": 3}


def test_template_helpers() -> None:
    assert is_whole_template("{{ a }}") and is_whole_template("  {{ a }} ")
    assert not is_whole_template("x {{ a }}") and not is_whole_template("{{ a }}{{ b }}")
    assert has_templates({"a": [1, {"b": "{{ x }}"}]}) and not has_templates({"a": "{ x }"})


def test_runaway_expressions_hit_the_time_limit() -> None:
    t0 = time.perf_counter()
    with pytest.raises(ExpressionEvaluationError) as err:
        evaluate("($f := function($x){ $f($x + 1) }; $f(0))", SCOPE, time_limit_ms=100)
    assert err.value.code == "expression_limit"
    with pytest.raises(ExpressionEvaluationError) as err2:
        evaluate("$count([1..2000000].($ * 2))", SCOPE, time_limit_ms=100)
    assert err2.value.code == "expression_limit"
    assert time.perf_counter() - t0 < 5


def test_the_time_limit_is_per_evaluation_not_per_parse() -> None:
    evaluate("trigger.n + 1", SCOPE, time_limit_ms=50)
    time.sleep(0.1)  # the parsed expression is cached; an old parse must not count against a new run
    assert evaluate("trigger.n + 1", SCOPE, time_limit_ms=50) == 4


def test_output_size_limit() -> None:
    with pytest.raises(ExpressionEvaluationError) as err:
        evaluate("$join([1..2000].('xxxxxxxxxx'), '')", SCOPE, output_limit_bytes=1000)
    assert err.value.code == "expression_limit" and "over the limit" in str(err.value)
    with pytest.raises(ExpressionEvaluationError):
        evaluate("[1..2000]", SCOPE, output_limit_bytes=1000)


def test_errors_are_clear_and_syntax_errors_distinct() -> None:
    with pytest.raises(ExpressionEvaluationError) as err:
        evaluate("$nosuchfunction(1)", SCOPE)
    assert err.value.code == "expression_error" and "$nosuchfunction" in str(err.value)
    with pytest.raises(ExpressionSyntaxError):
        evaluate("trigger.(", SCOPE)
    with pytest.raises(ExpressionEvaluationError):
        evaluate("function($x){ $x }", SCOPE)  # a function is not JSON data


def test_expressions_reach_nothing_but_the_scope() -> None:
    # no environment, no files, no Python: unknown functions fail, $eval sees only the scope
    for source in ("$env('HOME')", "$readFile('/etc/passwd')", "$import('os')"):
        with pytest.raises(ExpressionEvaluationError):
            evaluate(source, SCOPE)
    assert evaluate("$eval('trigger.name')", SCOPE) == "Ada"
    assert evaluate("$keys($)", SCOPE) == ["trigger", "nodes", "vars", "execution"]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_render_never_crashes_unexpectedly(text: str) -> None:
    try:
        render({"v": "{{ " + text + " }}"}, SCOPE, time_limit_ms=200)
    except (ExpressionEvaluationError, ExpressionSyntaxError):
        pass
