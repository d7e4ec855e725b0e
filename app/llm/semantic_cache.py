"""A semantic cache for model answers: chromadb (embedded, cosine) inside exact-match partitions.

A request is looked up in three steps:

1. **Partition** — the exact-match part: model, sampling parameters, prompt template name and
   version, response schema hash and workspace are hashed into a key; each key has its own
   collection (and every entry carries the key in its metadata). Similarity is only ever computed
   inside one partition, so a new template version or another model never sees old answers.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
COLLECTION_PREFIX = "fwc"
PURGE_EVERY = 500  # stores between two purges of the stored-to partition's expired entries


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
        self._lock = threading.Lock()
        # One connection for the cache's life: opening one per lookup cost ~20 ms on a busy machine.
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # counters: losing the last increments on power loss is fine
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def add(self, **deltas: int) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                [(k, v) for k, v in deltas.items() if v],
            )

    def read(self) -> dict[str, int]:
        with self._lock:
            rows = dict(self._db.execute("SELECT name, value FROM counters").fetchall())
        return {name: int(rows.get(name, 0)) for name in self.FIELDS}

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM counters")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SemanticCache:
    """The semantic cache (see the module docstring). Thread-safe; blocking (run it in a thread
    from async code).

    Each partition is its own chroma collection (``fwc_<embedding model>_<partition key>``), and
    every entry also carries its partition key in its metadata. A collection per partition keeps
    the similarity search a plain HNSW query: a ``where`` filter on a shared collection made chroma
    materialise every matching id first (70 ms at 10k entries, growing linearly).
    """

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
        self._lock = threading.RLock()
        self._handles: dict[str, Any] = {}
        self._stores = 0
        # Vectors of different embedding models never meet: the model is part of every collection name.
        self._prefix = f"{COLLECTION_PREFIX}_{hashlib.sha256(embedder.model_name.encode()).hexdigest()[:10]}"
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            self.path.mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(
                path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
            self._counters = _Counters(self.path / "flowwright_cache_stats.sqlite3")
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the semantic cache in {self.path}: {exc}", path=str(self.path)) from exc
        self._function = chroma_embedding_function(embedder)

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
        self.store_many(partition, [(text, value_json, vector)], usage_tokens=usage_tokens)

    def store_many(self, partition: Mapping[str, Any], entries: Iterable[tuple[str, str, np.ndarray]],
                   *, usage_tokens: int = 0, batch_size: int = 2000) -> int:
        """Store many ``(text, value_json, vector)`` entries in batches (warming, benchmarks)."""
        key = partition_key(partition)
        now = self.clock()
        count = 0
        batch: dict[str, tuple[str, str, np.ndarray]] = {}

        def flush() -> None:
            if not batch:
                return
            ids = list(batch)
            self._with_collection(key, partition, lambda c: c.upsert(
                ids=ids, documents=[batch[i][0] for i in ids],
                embeddings=[np.asarray(batch[i][2], dtype=np.float32) for i in ids],
                metadatas=[self._metadata(partition, key, batch[i][0], batch[i][1], now, usage_tokens)
                           for i in ids]))
            batch.clear()

        for text, value_json, vector in entries:
            json.loads(value_json)  # refuse to cache something that is not JSON
            batch[_entry_id(key, text)] = (text, value_json, vector)
            count += 1
            if len(batch) >= batch_size:
                flush()
        flush()
        self._stores += count
        if self._stores >= PURGE_EVERY:  # expired entries would crowd the nearest candidates
            self._stores = 0
            self._with_collection(key, None, lambda c: self._purge(c))
        return count

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors the cache compares: each text embedded with its literal values (addresses,
        channels, numbers...) replaced by fixed stand-ins, so that requests differing only in such
        values are neighbours and the entity comparison decides whether to re-bind them."""
        return self.embedder.embed([slot_text(t) for t in texts])

    # -- maintenance ------------------------------------------------------------------------------

    def invalidate_template(self, name: str, keep_version: str | int | None = None) -> int:
        """Delete the entries of prompt template ``name`` (all versions but ``keep_version``)."""
        deleted = 0
        for collection in self._collections():
            meta = collection.metadata or {}
            if meta.get("template") == name and (keep_version is None
                                                 or meta.get("template_version") != str(keep_version)):
                deleted += collection.count()
                self._drop(collection.name)
        return deleted

    def purge_expired(self) -> int:
        """Delete expired entries (lookups ignore them anyway); returns how many."""
        return sum(self._purge(collection) for collection in self._collections())

    def _purge(self, collection: Any) -> int:
        ids = collection.get(where={"expires_at": {"$lte": self.clock()}}, include=[])["ids"]
        if ids:
            collection.delete(ids=ids)
        return len(ids)

    def stats(self) -> CacheStats:
        counters = self._counters.read()
        return CacheStats(entries=sum(c.count() for c in self._collections()), **counters)

    def clear(self) -> int:
        """Delete every entry and reset the counters; returns how many entries were deleted."""
        deleted = 0
        for collection in self._collections():
            deleted += collection.count()
            self._drop(collection.name)
        self._counters.reset()
        return deleted

    def close(self) -> None:
        self._counters.close()

    # -- internals --------------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return f"{self._prefix}_{key}"

    def _collections(self) -> list[Any]:
        with self._lock:
            return [c for c in self._client.list_collections() if c.name.startswith(self._prefix + "_")]

    def _drop(self, name: str) -> None:
        from chromadb.errors import NotFoundError

        with self._lock:
            self._handles.pop(name, None)
            try:
                self._client.delete_collection(name)
            except NotFoundError:
                pass

    def _collection(self, key: str, partition: Mapping[str, Any] | None) -> Any:
        """The partition's collection: created when ``partition`` is given, else ``None`` if absent."""
        from chromadb.errors import NotFoundError

        name = self._name(key)
        with self._lock:
            handle = self._handles.get(name)
            if handle is not None:
                return handle
            if partition is None:
                try:
                    handle = self._client.get_collection(name, embedding_function=self._function)
                except NotFoundError:
                    return None
            else:
                handle = self._client.get_or_create_collection(
                    name, embedding_function=self._function,
                    metadata={"hnsw:space": "cosine", "partition": key,
                              "template": str(partition.get("template", "")),
                              "template_version": str(partition.get("template_version", "")),
                              "workspace": str(partition.get("workspace", "")),
                              "model": str(partition.get("model", "")),
                              "embedding_model": self.embedder.model_name})
            self._handles[name] = handle
            return handle

    def _with_collection(self, key: str, partition: Mapping[str, Any] | None, action: Callable[[Any], Any]) -> Any:
        """Run ``action`` on the partition's collection; if another process dropped it (``cache
        clear``, a template invalidation), forget the stale handle and try once more."""
        from chromadb.errors import NotFoundError

        for attempt in (1, 2):
            collection = self._collection(key, partition)
            if collection is None:
                return None
            try:
                return action(collection)
            except NotFoundError:
                with self._lock:
                    self._handles.pop(self._name(key), None)
                if attempt == 2:
                    raise
        return None

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
        result = self._with_collection(key, None, lambda c: c.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=self.candidates,
            include=["metadatas", "distances"]))
        if result is None or not result["ids"] or not result["ids"][0]:
            return None
        now = self.clock()
        signature: RequestSignature | None = None
        metadatas = (result.get("metadatas") or [[]])[0]
        distances = (result.get("distances") or [[]])[0]
        for entry_id, metadata, distance in zip(result["ids"][0], metadatas, distances, strict=False):
            similarity = 1.0 - float(distance)
            if similarity < self.threshold:
                break  # results come nearest first
            if metadata is None or metadata.get("partition") != key or float(metadata["expires_at"]) <= now:
                continue
            if signature is None:
                signature = extract(text)
            cached = RequestSignature.from_json(str(metadata["signature"]))
            decision = decide(cached, signature, str(metadata["value"]), validate)
            if decision.value_json is not None:
                return CacheHit(value_json=decision.value_json, similarity=similarity, rebound=decision.rebound,
                                entry_id=entry_id, tokens_saved=int(metadata.get("usage_tokens") or 0))
        return None


def _entry_id(key: str, text: str) -> str:
    return hashlib.sha256(f"{key}\n{_normalised(text)}".encode()).hexdigest()[:32]


def open_cache(settings: Any, embedder: Embedder | None = None) -> SemanticCache:
    """The cache configured by ``settings`` (data dir, threshold, TTL, embedding model)."""
    from app.llm.embeddings import embedder_from_settings

    return SemanticCache(
        settings.ensure_data_dir(),
        embedder or embedder_from_settings(settings),
        threshold=float(getattr(settings, "cache_threshold", DEFAULT_THRESHOLD)),
        ttl_s=float(getattr(settings, "cache_ttl_s", DEFAULT_TTL_S)),
    )
