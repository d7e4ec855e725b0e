"""The semantic cache: partitions, entity-aware hits, re-binding, TTL, invalidation, stats, labelled set."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from app.llm.embeddings import MiniLMEmbedder
from app.llm.semantic_cache import (
    CacheHit,
    SemanticCache,
    make_partition,
    open_cache,
    partition_key,
    schema_hash,
)
from engine.validation import validate_workflow

PAIRS = Path(__file__).resolve().parents[2] / "data" / "cache_pairs.jsonl"


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(tmp_path: Path, embedder: MiniLMEmbedder, clock: Clock) -> SemanticCache:
    return SemanticCache(tmp_path, embedder, ttl_s=3600, clock=clock)


def valid_workflow(text: str) -> bool:
    return validate_workflow(json.loads(text)).ok


def weekly_email(to: str, dow: int) -> str:
    return json.dumps({
        "schema_version": "1", "name": "Weekly email",
        "nodes": [
            {"id": "weekly", "type": "trigger", "kind": "schedule", "config": {"cron": f"0 9 * * {dow}", "timezone": "UTC"}},
            {"id": "send", "type": "action", "connector": "email", "operation": "send",
             "config": {"to": [to], "subject": "Weekly report", "body": "See attached."}},
        ],
        "edges": [{"source": "weekly", "target": "send"}],
    })


PART = make_partition(model="local/flowwright-planner", params={"temperature": 0}, template="plan",
                      template_version="1", response_schema={"type": "object"}, workspace="ws1")
ALICE = "Every Monday at 9am, email the weekly report to alice@x.com"


def test_paraphrase_hits_with_tokens_saved_and_counted(cache: SemanticCache) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1), usage_tokens=1234)
    hit = cache.lookup(PART, "Email the weekly report to alice@x.com every Monday at 9 am")
    assert isinstance(hit, CacheHit)
    assert hit.value_json == weekly_email("alice@x.com", 1)
    assert hit.similarity > 0.85 and not hit.rebound and hit.tokens_saved == 1234
    assert cache.lookup(PART, "Summarise yesterday's Jira tickets into #standup") is None
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses, stats.tokens_saved) == (1, 1, 1, 1234)
    assert stats.hit_rate == 0.5


def test_alice_monday_never_serves_bob_friday(cache: SemanticCache) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    assert cache.lookup(PART, "Every Friday at 9am, email the weekly report to bob@y.com", valid_workflow) is None
    # Only the address differs: the slot is re-bound and re-validated.
    hit = cache.lookup(PART, "Every Monday at 9am, email the weekly report to bob@y.com", valid_workflow)
    assert hit is not None and hit.rebound
    assert json.loads(hit.value_json) == json.loads(weekly_email("bob@y.com", 1))
    # Without a validator, or with one that refuses, a re-bound answer is never served.
    assert cache.lookup(PART, "Every Monday at 9am, email the weekly report to bob@y.com") is None
    assert cache.lookup(PART, "Every Monday at 9am, email the weekly report to bob@y.com", lambda _: False) is None
    assert cache.stats().rebound_hits == 1


def test_partition_isolates_model_template_version_schema_and_workspace(cache: SemanticCache) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    assert cache.lookup(PART, ALICE) is not None
    for change in ({"model": "openai/gpt-4o-mini"}, {"template_version": "2"}, {"workspace": "ws2"},
                   {"params": {"temperature": 0.7}}, {"schema": schema_hash({"type": "array"})}):
        assert cache.lookup({**PART, **change}, ALICE) is None, change
    assert partition_key(PART) == partition_key(dict(reversed(list(PART.items()))))


def test_ttl_expiry_and_purge(cache: SemanticCache, clock: Clock) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    clock.now += 3599
    assert cache.lookup(PART, ALICE) is not None
    clock.now += 2
    assert cache.lookup(PART, ALICE) is None
    assert cache.purge_expired() == 1
    assert cache.stats().entries == 0


def test_store_again_replaces_and_refuses_non_json(cache: SemanticCache) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    cache.store(PART, "  " + ALICE + " ", weekly_email("alice@x.com", 2))
    assert cache.stats().entries == 1
    hit = cache.lookup(PART, ALICE)
    assert hit is not None and hit.value_json == weekly_email("alice@x.com", 2)
    with pytest.raises(ValueError):
        cache.store(PART, ALICE, "not json")


def test_invalidate_template_keeps_the_current_version(cache: SemanticCache) -> None:
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    cache.store({**PART, "template_version": "2"}, ALICE, weekly_email("alice@x.com", 1))
    cache.store({**PART, "template": "refine"}, ALICE, weekly_email("alice@x.com", 1))
    assert cache.invalidate_template("plan", keep_version="2") == 1
    assert cache.lookup(PART, ALICE) is None
    assert cache.lookup({**PART, "template_version": "2"}, ALICE) is not None
    assert cache.invalidate_template("plan") == 1
    assert cache.stats().entries == 1


def test_stats_persist_across_instances_and_clear_resets(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    first = SemanticCache(tmp_path, embedder)
    first.store(PART, ALICE, weekly_email("alice@x.com", 1), usage_tokens=10)
    assert first.lookup(PART, ALICE) is not None
    second = SemanticCache(tmp_path, embedder)
    assert second.stats().to_dict() == {"entries": 1, "hits": 1, "misses": 0, "hit_rate": 1.0,
                                        "rebound_hits": 0, "tokens_saved": 10}
    assert second.clear() == 1
    assert second.stats().to_dict()["entries"] == 0 and second.stats().hits == 0
    assert second.lookup(PART, ALICE) is None
    assert (tmp_path / "chroma").is_dir()


def test_open_cache_from_settings(embedder: MiniLMEmbedder) -> None:
    from app.settings import Settings

    settings = Settings(cache_threshold=0.9, cache_ttl_s=60)
    cache = open_cache(settings, embedder)
    assert cache.threshold == 0.9 and cache.ttl_s == 60
    assert cache.path == settings.data_dir / "chroma"
    with pytest.raises(ValueError):
        SemanticCache(settings.data_dir, embedder, threshold=1.5)


def test_nothing_reaches_the_network(tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in {"127.0.0.1", "::1", "localhost"} and not host.startswith("/"):
            attempts.append(address)
            raise OSError(f"network access to {address} in a test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    cache = SemanticCache(tmp_path, embedder)
    cache.store(PART, ALICE, weekly_email("alice@x.com", 1))
    assert cache.lookup(PART, ALICE) is not None
    cache.stats()
    assert attempts == []


def _judge(row: dict[str, Any], hit: CacheHit | None) -> str:
    """tp: a paraphrase served the cached workflow; fn: a paraphrase missed; ok: a negative missed;
    rebound: a negative served with its values correctly re-bound; false: anything else served."""
    if row["label"] == "hit":
        if hit is None:
            return "fn"
        return "tp" if json.loads(hit.value_json) == row["workflow_a"] else "false"
    if hit is None:
        return "ok"
    if row.get("workflow_b") is not None and json.loads(hit.value_json) == row["workflow_b"]:
        return "rebound"
    return "false"


@pytest.mark.slow
def test_labelled_set_has_zero_false_hits(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    assert len(rows) >= 150
    assert {r["why"] for r in rows} == {"paraphrase", "value", "negation", "order", "scope"}
    texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
    cache = SemanticCache(tmp_path, embedder)
    vectors = dict(zip(texts, cache.embed(texts), strict=True))
    outcomes: dict[str, int] = {}
    false_hits = []
    for i, row in enumerate(rows):
        part = {**PART, "workspace": f"pair-{i}"}  # one partition per pair: pairs never see each other
        workflow_a = json.dumps(row["workflow_a"])
        assert valid_workflow(workflow_a)
        cache.store_vector(part, row["a"], workflow_a, vectors[row["a"]])
        hit = cache.lookup_vector(part, row["b"], vectors[row["b"]], valid_workflow)
        verdict = _judge(row, hit)
        outcomes[verdict] = outcomes.get(verdict, 0) + 1
        if verdict == "false":
            false_hits.append((row["why"], row["a"], row["b"], hit))
    paraphrases = outcomes.get("tp", 0) + outcomes.get("fn", 0)
    hit_rate = outcomes.get("tp", 0) / paraphrases
    print(f"\nlabelled set: {len(rows)} pairs, paraphrase hit rate {hit_rate:.3f}, outcomes {outcomes}")
    assert false_hits == []
    assert hit_rate >= 0.8
    assert outcomes.get("rebound", 0) > 0  # re-binding is exercised, and correct every time


def test_another_process_clearing_does_not_break_an_open_cache(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    server = SemanticCache(tmp_path, embedder)
    cli = SemanticCache(tmp_path, embedder)
    server.store(PART, ALICE, weekly_email("alice@x.com", 1))
    assert server.lookup(PART, ALICE) is not None
    assert cli.clear() == 1
    assert server.lookup(PART, ALICE) is None
    server.store(PART, ALICE, weekly_email("alice@x.com", 1))
    assert cli.lookup(PART, ALICE) is not None


def test_storing_purges_expired_entries_now_and_then(cache: SemanticCache, clock: Clock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import app.llm.semantic_cache as module

    monkeypatch.setattr(module, "PURGE_EVERY", 3)
    vector = cache.embed([ALICE])[0]
    cache.store_many(PART, [(f"old request {i}", "{}", vector) for i in range(2)])
    clock.now += 7200
    cache.store_vector(PART, "fresh request", "{}", vector)
    assert cache.stats().entries == 1
