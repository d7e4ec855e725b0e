"""The connector catalog as the planner sees it: operations ranked by meaning, configs by field name.

``OperationIndex`` embeds every operation's description (all-MiniLM-L6-v2, the same offline model
the semantic cache and the catalog retrieval use) and ranks them against a clause of the request
by cosine similarity. ``adapt_config`` writes a step's values under the field names the
operation's input model actually declares, so the planner never hard-codes one connector's
spelling ("record" vs "values", "sql" vs "query").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# Semantic value → field names an input model may use for it, most likely first.
FIELD_CANDIDATES: dict[str, tuple[str, ...]] = {
    "to": ("to", "recipients", "recipient"),
    "subject": ("subject", "title"),
    "body": ("body", "text", "content", "message"),
    "channel": ("channel", "channel_id", "conversation"),
    "text": ("text", "message", "body", "content"),
    "url": ("url", "endpoint"),
    "method": ("method",),
    "json": ("json", "json_body", "payload"),
    "sql": ("sql", "query", "statement"),
    "params": ("params", "parameters", "bind", "values"),
    "table": ("table", "table_name", "collection"),
    "rows": ("rows", "records", "items"),
    "key_field": ("key_field", "key", "keys", "match_on", "unique_by"),
    "where": ("where", "filter", "match", "criteria", "query"),
    "limit": ("limit", "max_rows"),
    "input": ("text", "input", "content"),
    "prompt": ("prompt", "text", "input"),
    "instructions": ("instructions", "system"),
    "system": ("system", "instructions"),
    "max_words": ("max_words",),
    "labels": ("labels", "categories", "classes"),
    "fields": ("fields", "schema", "properties"),
    "message": ("message", "text"),
    "level": ("level",),
    "seconds": ("seconds",),
    "expression": ("expression",),
    "values": ("values",),
}

# Output field names worth referring to, by preference, when a later step uses a step's result.
OUTPUT_PREFERENCE = ("body", "rows", "records", "items", "summary", "label", "data", "text", "value", "result",
                     "output", "values")


@dataclass(frozen=True)
class OperationInfo:
    connector: str
    operation: str
    description: str
    inputs: tuple[str, ...]
    required: tuple[str, ...]
    outputs: tuple[str, ...]
    external: bool
    destructive: bool

    @property
    def key(self) -> str:
        return f"{self.connector}.{self.operation}"


def _field_names(model: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names, required = [], []
    for name, info in model.model_fields.items():
        public = info.alias or name
        names.append(public)
        if info.is_required():
            required.append(public)
    return tuple(names), tuple(required)


class OperationIndex:
    """Every operation of a registry, embedded once, ranked by similarity to a clause."""

    def __init__(self, registry: Any, embedder: Any | None) -> None:
        self.registry = registry
        self.embedder = embedder
        self.ops: list[OperationInfo] = []
        for connector in registry:
            for op in connector.operations:
                inputs, required = _field_names(op.input_model)
                outputs, _ = _field_names(op.output_model)
                self.ops.append(OperationInfo(connector.name, op.name, op.description, inputs, required, outputs,
                                              op.external, op.destructive))
        self.by_key = {o.key: o for o in self.ops}
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def _vectors(self) -> np.ndarray:
        with self._lock:
            if self._matrix is None:
                texts = [f"{o.connector} {o.operation}: {o.description}" for o in self.ops]
                embedder = self.embedder
                self._matrix = embedder.embed(texts) if texts and embedder is not None else np.zeros((len(texts), 384), dtype=np.float32)
            return self._matrix

    def get(self, connector: str, operation: str) -> OperationInfo | None:
        return self.by_key.get(f"{connector}.{operation}")

    def has(self, connector: str, operation: str | None = None) -> bool:
        if operation is None:
            return any(o.connector == connector for o in self.ops)
        return f"{connector}.{operation}" in self.by_key

    def rank(self, clause_vector: np.ndarray, allowed: set[str] | None = None) -> list[tuple[float, OperationInfo]]:
        """Operations by cosine similarity to a (normalised) clause vector, best first."""
        if self.embedder is None or not self.ops:
            return []
        scores = self._vectors() @ clause_vector
        ranked = sorted(zip(scores.tolist(), self.ops, strict=True), key=lambda p: -p[0])
        return [(s, o) for s, o in ranked if allowed is None or o.key in allowed or o.connector in allowed]

    def adapt_config(self, connector: str, operation: str, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` keyed by semantic name → keyed by the operation's own input field names."""
        info = self.get(connector, operation)
        if info is None:
            return {k: v for k, v in values.items() if v is not None}
        config: dict[str, Any] = {}
        for semantic, value in values.items():
            if value is None:
                continue
            if semantic in info.inputs and semantic not in config:
                config[semantic] = value
                continue
            for candidate in FIELD_CANDIDATES.get(semantic, ()):
                if candidate in info.inputs and candidate not in config:
                    config[candidate] = value
                    break
        return config

    def output_field(self, connector: str, operation: str) -> str | None:
        """The output field a later step most likely wants ('body' of http.request, 'rows' of a query)."""
        info = self.get(connector, operation)
        if info is None:
            return None
        for name in OUTPUT_PREFERENCE:
            if name in info.outputs:
                return name
        return info.outputs[0] if info.outputs else None


@lru_cache(maxsize=1)
def default_embedder() -> Any:
    """The offline MiniLM embedder, or None when its weights are not installed."""
    try:
        from app.llm.embeddings import MiniLMEmbedder

        return CachedEmbedder(MiniLMEmbedder())
    except Exception:  # missing weights: the planner still works on its grammar alone
        return None


class CachedEmbedder:
    """Memoises sentence vectors (requests repeat their clauses across turns and re-asks)."""

    def __init__(self, inner: Any, size: int = 4096) -> None:
        self.inner = inner
        self.size = size
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return str(self.inner.model_name)

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self.inner.embed(missing)
            with self._lock:
                if len(self._cache) > self.size:
                    self._cache.clear()
                self._cache.update(zip(missing, vectors, strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


_INDEXES: dict[int, OperationIndex] = {}
_INDEX_LOCK = threading.Lock()


def operation_index(registry: Any | None = None) -> OperationIndex:
    """The index of ``registry`` (default: the built-in connectors and plugins), built once."""
    if registry is None:
        registry = _default_registry()
    with _INDEX_LOCK:
        index = _INDEXES.get(id(registry))
        if index is None:
            index = OperationIndex(registry, default_embedder())
            _INDEXES[id(registry)] = index
        return index


@lru_cache(maxsize=1)
def _default_registry() -> Any:
    from connectors.registry import default_registry

    return default_registry()
