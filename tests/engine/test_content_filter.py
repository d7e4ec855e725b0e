"""engine/content_filter.py on RE2: linear on any text, custom patterns held to what RE2 accepts."""

from __future__ import annotations

import pytest

from engine.content_filter import REGEX_ENGINE, ContentFilter, compile_pattern
from engine.validation import validate_workflow
from tests.engine.workflows import minimal


def test_every_pattern_runs_on_re2() -> None:
    import re2

    assert REGEX_ENGINE == "re2"
    compiled = ContentFilter(patterns=[r"project\s+falcon"])._compiled
    assert compiled and all(isinstance(p, type(re2.compile("x"))) for _, _, p in compiled)


def test_pathological_text_is_scanned_correctly() -> None:
    content_filter = ContentFilter()
    assert content_filter.scan("%" * 5 * 1024 * 1024) == []
    spaced = ("ignore " * 200_000) + "previous instructions"
    assert [f.category for f in content_filter.scan(spaced)] == ["prompt_injection"]


def test_word_classes_keep_their_unicode_meaning() -> None:
    assert ContentFilter(categories=[], patterns=[r"^[\w-]+$"]).scan("crème-brûlée")
    assert ContentFilter(categories=[], patterns=[r"secret\w+"]).scan("le secretément")
    assert not ContentFilter(categories=[], patterns=[r"[^\w]x"]).scan("éx")


def test_patterns_re2_refuses_are_named() -> None:
    with pytest.raises(ValueError, match="lookarounds and backreferences"):
        compile_pattern(r"(?<!not )allowed")
    wf = minimal()
    wf["nodes"].insert(1, {"id": "filter", "type": "guardrail", "kind": "content_filter",
                           "config": {"patterns": ["fine", r"(a+)\1"]}})
    wf["edges"] = [{"source": "start", "target": "filter"}, {"source": "filter", "target": "say"}]
    problems = validate_workflow(wf).problems
    assert [(p.code, p.path) for p in problems] == [("pattern_invalid", "$.nodes[1].config.patterns[1]")]
