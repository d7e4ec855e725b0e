"""Semantic cache benchmark: labelled-set quality, lookup latency at 10k/100k entries, embedding speed.

    python bench/cache.py [--sizes 10000,100000] [--lookups 200] [--out figures.json]

Prints one JSON document:

* ``labelled_set`` — every pair of tests/data/cache_pairs.jsonl through a real cache (one partition
  per pair): hit rate on true paraphrases, false-hit rate on hard negatives (a served answer that
  is not exactly the right workflow), and how many negatives were served correctly re-bound.
* ``latency`` — lookups against a cache of N entries. Embedding N real texts would take most of an
  hour, so the filler entries are **random unit vectors** (stored with a synthetic text and value);
  the labelled set's requests are stored too, so lookups find real candidates and run the entity
  check. Two layouts: every entry in the query's partition (the worst case for the similarity
  search) and entries spread over 100 partitions (one per workspace, the usual case).
  ``search_ms`` times the vector search + entity check (``lookup_vector``); ``lookup_ms`` adds
  embedding the query (``lookup``).
* ``embedding`` — MiniLM texts per second, batched, one BLAS thread and all threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.llm.embeddings import MiniLMEmbedder
from app.llm.semantic_cache import SemanticCache, make_partition
from engine.validation import validate_workflow

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "cache_pairs.jsonl"
BASE = make_partition(model="local/flowwright-planner", params={"temperature": 0}, template="plan",
                      template_version="1", response_schema={"type": "object"}, workspace="bench")


def _valid(text: str) -> bool:
    return validate_workflow(json.loads(text)).ok


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max": round(ordered[-1], 2)}


def labelled_set(embedder: MiniLMEmbedder, rows: list[dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(Path(tmp), embedder)
        texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
        vectors = dict(zip(texts, cache.embed(texts), strict=True))
        counts = {"tp": 0, "fn": 0, "ok": 0, "rebound": 0, "false": 0}
        by_why: dict[str, dict[str, int]] = {}
        for i, row in enumerate(rows):
            part = {**BASE, "workspace": f"pair-{i}"}
            cache.store_vector(part, row["a"], json.dumps(row["workflow_a"]), vectors[row["a"]])
            hit = cache.lookup_vector(part, row["b"], vectors[row["b"]], _valid)
            served = json.loads(hit.value_json) if hit else None
            if row["label"] == "hit":
                verdict = "fn" if served is None else "tp" if served == row["workflow_a"] else "false"
            elif served is None:
                verdict = "ok"
            else:
                verdict = "rebound" if served == row.get("workflow_b") else "false"
            counts[verdict] += 1
            by_why.setdefault(row["why"], {}).setdefault(verdict, 0)
            by_why[row["why"]][verdict] += 1
    negatives = counts["ok"] + counts["rebound"] + counts["false"]
    return {
        "pairs": len(rows),
        "threshold": cache.threshold,
        "paraphrase_hit_rate": round(counts["tp"] / max(1, counts["tp"] + counts["fn"]), 4),
        "false_hit_rate": round(counts["false"] / max(1, len(rows)), 4),
        "false_hits": counts["false"],
        "negatives": negatives,
        "negatives_served_correctly_rebound": counts["rebound"],
        "by_why": by_why,
    }


def latency(embedder: MiniLMEmbedder, rows: list[dict[str, Any]], size: int, spread: int,
            lookups: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    filler_value = json.dumps({"schema_version": "1", "name": "filler", "nodes": [], "edges": []})
    real_texts = sorted({r["a"] for r in rows})
    queries = sorted({r["b"] for r in rows})
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(Path(tmp), embedder)
        real_vectors = cache.embed(real_texts)
        started = time.perf_counter()
        per_partition = size // spread
        for p in range(spread):
            part = {**BASE, "workspace": f"ws-{p}"}
            vectors = rng.standard_normal((per_partition, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            cache.store_many(part, ((f"synthetic request {p}-{i}", filler_value, vectors[i])
                                    for i in range(per_partition)))
        query_part = {**BASE, "workspace": "ws-0"}
        row_by_a = {r["a"]: r for r in rows}
        cache.store_many(query_part, ((t, json.dumps(row_by_a[t]["workflow_a"]), v)
                                      for t, v in zip(real_texts, real_vectors, strict=True)))
        fill_s = time.perf_counter() - started
        query_vectors = cache.embed(queries)
        search, full, hits = [], [], 0
        for i in range(lookups):
            text, vector = queries[i % len(queries)], query_vectors[i % len(queries)]
            t0 = time.perf_counter()
            hit = cache.lookup_vector(query_part, text, vector, _valid)
            search.append((time.perf_counter() - t0) * 1000)
            hits += hit is not None
        for i in range(max(20, lookups // 4)):
            t0 = time.perf_counter()
            cache.lookup(query_part, queries[i % len(queries)], _valid)
            full.append((time.perf_counter() - t0) * 1000)
        entries = cache.stats().entries
    return {"entries": entries, "partitions": spread, "entries_in_query_partition": per_partition + len(real_texts),
            "fill_s": round(fill_s, 1), "lookups": lookups, "hits": hits,
            "search_ms": _percentiles(search), "lookup_ms": _percentiles(full)}


def embedding_throughput(embedder: MiniLMEmbedder, rows: list[dict[str, Any]]) -> dict[str, Any]:
    texts = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
    out: dict[str, Any] = {"texts": len(texts), "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}
    for label, threads in (("one_blas_thread", 1), ("all_blas_threads", os.cpu_count() or 1)):
        model = MiniLMEmbedder(threads=threads)
        model.embed(texts[:8])
        t0 = time.perf_counter()
        model.embed(texts)
        out[f"texts_per_s_{label}"] = round(len(texts) / (time.perf_counter() - t0), 1)
    t0 = time.perf_counter()
    for text in texts[:50]:
        embedder.embed([text])
    out["single_text_ms"] = round((time.perf_counter() - t0) * 1000 / 50, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "labelled_set": labelled_set(embedder, rows),
        "embedding": embedding_throughput(embedder, rows),
        "latency": {},
        "filler": "random unit vectors (384-d) with synthetic texts; the labelled set's requests are real",
    }
    for size in (int(s) for s in args.sizes.split(",") if s):
        figures["latency"][f"{size}_one_partition"] = latency(embedder, rows, size, 1, args.lookups)
        figures["latency"][f"{size}_100_partitions"] = latency(embedder, rows, size, 100, args.lookups)
    figures["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    figures["runtime_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
