"""A semantic cache for model answers: chromadb (embedded, cosine) inside exact-match partitions.

A request is looked up in three steps:

1. **Partition** — the exact-match part: model, sampling parameters, prompt template name and
   version, response schema hash and workspace are hashed into a key stored with every entry and
   used as a ``where`` filter. Similarity is only ever computed inside one partition, so a new
   template version or another model never sees old answers.
2. **Similarity** — the request is embedded (offline MiniLM, or a litellm model) with its literal
   values replaced by stand-ins (:func:`app.llm.entities.slot_text`), and the nearest entries of
   the partition above ``threshold`` (cosine similarity) are candidates.
3. **Entities** — a candidate is served only if the concrete values and the structure of the two
   requests agree, or if the values differ only in literal slots that can be re-bound in the
   cached JSON and the re-bound answer passes the caller's validator (:mod:`app.llm.rebinding`).

Only validated answers should be stored (the caller validates before calling :meth:`store`).
Entries expire after ``ttl_s``. Hit/miss counters persist in a small SQLite file beside Chroma.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.llm.embeddings import Embedder, chroma_embedding_function
from app.llm.entities import RequestSignature, extract, slot_text
from app.llm.rebinding import decide
from engine.errors import FlowwrightError

DEFAULT_THRESHOLD = 0.85
DEFAULT_TTL_S = 7 * 24 * 3600
CANDIDATES = 5
COLLECTION_PREFIX = "flowwright_cache"


class CacheError(FlowwrightError):
    """The semantic cache's store could not be opened or used."""

    code = "cache_unavailable"
    status = 500


@dataclass(frozen=True)
class CacheHit:
    """A served answer: the JSON, the cosine similarity, whether values were re-bound."""

    value_json: str
    similarity: float
    rebound: bool
    entry_id: str
    tokens_saved: int = 0


@dataclass(frozen=True)
class CacheStats:
    """Entries stored, and the persisted lookup counters."""

    entries: int
    hits: int
    misses: int
    rebound_hits: int
    tokens_saved: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "hits": self.hits, "misses": self.misses,
                "hit_rate": round(self.hit_rate, 4), "rebound_hits": self.rebound_hits,
                "tokens_saved": self.tokens_saved}


def schema_hash(schema: Any) -> str:
    """A stable hash of a response schema: a pydantic model class, a JSON Schema dict, or a string."""
    if hasattr(schema, "model_json_schema"):
        schema = schema.model_json_schema()
    text = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_partition(*, model: str, params: Mapping[str, Any] | None = None, template: str = "",
                   template_version: str | int = "", response_schema: Any = None,
                   workspace: str = "") -> dict[str, Any]:
    """The exact-match partition of a request (see :meth:`SemanticCache.lookup`)."""
    return {
        "model": model,
        "params": dict(sorted((params or {}).items())),
        "template": template,
        "template_version": str(template_version),
        "schema": schema_hash(response_schema) if response_schema is not None else "",
        "workspace": workspace,
    }


def partition_key(partition: Mapping[str, Any]) -> str:
    """The hash of a partition (canonical JSON), used as the ``where`` filter."""
    canonical = json.dumps(partition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _normalised(text: str) -> str:
    return " ".join(text.split())


class _Counters:
    """Hit/miss counters in SQLite, so that ``flowwright cache stats`` sees every process's lookups."""

    FIELDS = ("hits", "misses", "rebound_hits", "tokens_saved")

    def __init__(self, path: Path) -> None:
        self.path = path
        with closing(self._connect()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # counters: losing the last increments on power loss is fine
        return db

    def add(self, **deltas: int) -> None:
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                [(k, v) for k, v in deltas.items() if v],
            )

    def read(self) -> dict[str, int]:
        with closing(self._connect()) as db:
            rows = dict(db.execute("SELECT name, value FROM counters").fetchall())
        return {name: int(rows.get(name, 0)) for name in self.FIELDS}

    def reset(self) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM counters")


class SemanticCache:
    """The semantic cache (see the module docstring). Thread-safe; blocking (run it in a thread
    from async code)."""

    def __init__(self, data_dir: Path, embedder: Embedder, *, threshold: float = DEFAULT_THRESHOLD,
                 ttl_s: float = DEFAULT_TTL_S, candidates: int = CANDIDATES,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.embedder = embedder
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.candidates = candidates
        self.clock = clock
        self.path = Path(data_dir) / "chroma"
        self._lock = threading.Lock()
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            self.path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
            # One collection per embedding model: vectors of different models never mix.
            model_tag = hashlib.sha256(embedder.model_name.encode()).hexdigest()[:10]
            self._collection = self._client.get_or_create_collection(
                name=f"{COLLECTION_PREFIX}_{model_tag}",
                metadata={"hnsw:space": "cosine", "embedding_model": embedder.model_name},
                embedding_function=chroma_embedding_function(embedder),
            )
        except (OSError, ValueError) as exc:
            raise CacheError(f"cannot open the semantic cache in {self.path}: {exc}", path=str(self.path)) from exc
        self._counters = _Counters(self.path / "flowwright_cache_stats.sqlite3")

    # -- the interface used by the gateway ------------------------------------------------------

    def lookup(self, partition: Mapping[str, Any], text: str,
               validate: Callable[[str], bool] | None = None) -> CacheHit | None:
        """The cached answer for ``text`` in ``partition``, or ``None`` (a miss; counted).

        ``validate(json_text) -> bool`` re-checks an answer whose literal values were re-bound to
        this request's values; without it, only exact-value hits are served.
        """
        vector = self.embed([text])[0]
        return self.lookup_vector(partition, text, vector, validate)

    def lookup_vector(self, partition: Mapping[str, Any], text: str, vector: np.ndarray,
                      validate: Callable[[str], bool] | None = None) -> CacheHit | None:
        """:meth:`lookup` with ``vector`` precomputed by :meth:`embed`."""
        hit = self._find(partition_key(partition), text, vector, validate)
        if hit is None:
            self._counters.add(misses=1)
        else:
            self._counters.add(hits=1, rebound_hits=int(hit.rebound), tokens_saved=hit.tokens_saved)
        return hit

    def store(self, partition: Mapping[str, Any], text: str, value_json: str, *, usage_tokens: int = 0) -> None:
        """Store a validated answer ``value_json`` for ``text`` in ``partition``.

        Storing the same (normalised) text again in the same partition replaces the entry.
        """
        vector = self.embed([text])[0]
        self.store_vector(partition, text, value_json, vector, usage_tokens=usage_tokens)

    def store_vector(self, partition: Mapping[str, Any], text: str, value_json: str, vector: np.ndarray,
                     *, usage_tokens: int = 0) -> None:
        """:meth:`store` with ``vector`` precomputed by :meth:`embed`."""
        json.loads(value_json)  # refuse to cache something that is not JSON
        key = partition_key(partition)
        entry_id = hashlib.sha256(f"{key}\n{_normalised(text)}".encode()).hexdigest()[:32]
        now = self.clock()
        metadata = self._metadata(partition, key, text, value_json, now, usage_tokens)
        with self._lock:
            self._collection.upsert(ids=[entry_id], embeddings=[np.asarray(vector, dtype=np.float32)],
                                    documents=[text], metadatas=[metadata])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors the cache compares: each text embedded with its literal values (addresses,
        channels, numbers...) replaced by fixed stand-ins, so that requests differing only in such
        values are neighbours and the entity comparison decides whether to re-bind them."""
        return self.embedder.embed([slot_text(t) for t in texts])

    # -- maintenance ------------------------------------------------------------------------------

    def invalidate_template(self, name: str, keep_version: str | int | None = None) -> int:
        """Delete the entries of prompt template ``name`` (all versions but ``keep_version``)."""
        where: dict[str, Any] = {"template": name}
        if keep_version is not None:
            where = {"$and": [{"template": name}, {"template_version": {"$ne": str(keep_version)}}]}
        return self._delete(where)

    def purge_expired(self) -> int:
        """Delete expired entries (lookups ignore them anyway); returns how many."""
        return self._delete({"expires_at": {"$lte": self.clock()}})

    def stats(self) -> CacheStats:
        counters = self._counters.read()
        return CacheStats(entries=self._collection.count(), **counters)

    def clear(self) -> int:
        """Delete every entry and reset the counters; returns how many entries were deleted.

        Entries are deleted in place (the collection stays), so other processes holding the cache
        open (the server, while the CLI clears) keep working.
        """
        deleted = 0
        with self._lock:
            while True:
                ids = self._collection.get(limit=5000, include=[])["ids"]
                if not ids:
                    break
                self._collection.delete(ids=ids)
                deleted += len(ids)
        self._counters.reset()
        return deleted

    # -- internals --------------------------------------------------------------------------------

    def _metadata(self, partition: Mapping[str, Any], key: str, text: str, value_json: str, now: float,
                  usage_tokens: int) -> dict[str, Any]:
        return {
            "partition": key,
            "template": str(partition.get("template", "")),
            "template_version": str(partition.get("template_version", "")),
            "workspace": str(partition.get("workspace", "")),
            "created_at": now,
            "expires_at": now + self.ttl_s,
            "signature": extract(text).to_json(),
            "value": value_json,
            "usage_tokens": int(usage_tokens),
        }

    def _find(self, key: str, text: str, vector: np.ndarray,
              validate: Callable[[str], bool] | None) -> CacheHit | None:
        where = {"$and": [{"partition": key}, {"expires_at": {"$gt": self.clock()}}]}
        with self._lock:
            if self._collection.count() == 0:
                return None
            result = self._collection.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=self.candidates,
                where=where, include=["metadatas", "distances"],  # type: ignore[list-item]
            )
        ids = result["ids"][0]
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        signature: RequestSignature | None = None
        for entry_id, metadata, distance in zip(ids, metadatas, distances, strict=False):
            similarity = 1.0 - float(distance)
            if similarity < self.threshold or metadata is None:
                break  # results come nearest first
            if signature is None:
                signature = extract(text)
            cached = RequestSignature.from_json(str(metadata["signature"]))
            decision = decide(cached, signature, str(metadata["value"]), validate)
            if decision.value_json is not None:
                return CacheHit(value_json=decision.value_json, similarity=similarity, rebound=decision.rebound,
                                entry_id=entry_id, tokens_saved=int(metadata.get("usage_tokens") or 0))
        return None

    def _delete(self, where: dict[str, Any]) -> int:
        with self._lock:
            found = self._collection.get(where=where, include=[])
            ids = found["ids"]
            if ids:
                self._collection.delete(ids=ids)
        return len(ids)


def open_cache(settings: Any, embedder: Embedder | None = None) -> SemanticCache:
    """The cache configured by ``settings`` (data dir, threshold, TTL, embedding model)."""
    from app.llm.embeddings import embedder_from_settings

    return SemanticCache(
        settings.ensure_data_dir(),
        embedder or embedder_from_settings(settings),
        threshold=float(getattr(settings, "cache_threshold", DEFAULT_THRESHOLD)),
        ttl_s=float(getattr(settings, "cache_ttl_s", DEFAULT_TTL_S)),
    )
