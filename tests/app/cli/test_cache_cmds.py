"""`flowwright cache stats|clear|purge` against a real cache in the test's data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.llm.embeddings import MiniLMEmbedder
from app.llm.semantic_cache import SemanticCache, make_partition

runner = CliRunner()


@pytest.fixture
def filled(_isolated_data_dir: Path) -> SemanticCache:
    cache = SemanticCache(_isolated_data_dir, MiniLMEmbedder())
    part = make_partition(model="local/flowwright-planner", template="plan", template_version="1")
    cache.store(part, "email alice@x.com every Monday", json.dumps({"to": "alice@x.com"}), usage_tokens=42)
    assert cache.lookup(part, "every Monday email alice@x.com") is not None
    assert cache.lookup(part, "delete the sessions table") is None
    return cache


def test_stats_json(filled: SemanticCache) -> None:
    result = runner.invoke(app, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["entries"], data["hits"], data["misses"], data["hit_rate"], data["tokens_saved"]) == (1, 1, 1, 0.5, 42)
    assert data["embedding_model"] == "all-MiniLM-L6-v2"


def test_stats_text_clear_and_purge(filled: SemanticCache) -> None:
    assert "hit rate: 0.5" in runner.invoke(app, ["cache", "stats"]).output
    refused = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert refused.exit_code == 1 and filled.stats().entries == 1
    cleared = runner.invoke(app, ["cache", "clear", "--yes", "--json"])
    assert cleared.exit_code == 0 and json.loads(cleared.output) == {"deleted": 1}
    assert filled.stats().entries == 0
    purged = runner.invoke(app, ["cache", "purge", "--json"])
    assert purged.exit_code == 0 and json.loads(purged.output) == {"deleted": 0}


def test_bad_setting_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWWRIGHT_CACHE_THRESHOLD", "2")
    result = runner.invoke(app, ["cache", "stats"])
    assert result.exit_code == 1
    assert "FLOWWRIGHT_CACHE_THRESHOLD" in result.output and "Traceback" not in result.output
