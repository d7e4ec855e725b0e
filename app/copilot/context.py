"""Context injection for the copilot's prompt, within a token budget.

What goes in, most important first: the current workflow when refining (always, it is what the
person is talking about), the connector operations most relevant to the request (embedding search
over the catalog's descriptions — never the whole catalog), the workspace preferences, the
workspace's existing workflows (names and one-line summaries, with likely duplicates flagged), and
a few examples chosen by similarity. Items are added in that order while they fit the budget.

Retrieval uses the offline MiniLM embedder (``app.llm.embeddings``). Only when its model files are
missing does it fall back to lexical (token-overlap) search, and it says so in the log.
Vectors of the catalog and the examples are computed once per process and kept on disk beside the
data (``<data_dir>/cache/copilot-vectors-<hash>.npy``) so a new process does not recompute them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.copilot.catalog_shapes import input_fields, output_shape

log = logging.getLogger(__name__)

DEFAULT_BUDGET_TOKENS = 3000
MIN_OPERATIONS = 6
MAX_OPERATIONS = 16
MAX_WORKFLOWS = 12
MAX_EXAMPLES = 3
MAX_CREDENTIALS = 20
DUPLICATE_SIMILARITY = 0.8
DUPLICATE_OVERLAP = 0.75

TokenCounter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """About four characters per token (used when no tokenizer is handed in)."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class OperationEntry:
    connector: str
    operation: str
    description: str
    fields: str
    destructive: bool
    title: str = ""
    outputs: str = ""  # the output's fields and types (what nodes.<id>.<field> reads)

    @property
    def text(self) -> str:
        """What retrieval compares the request with (kept short: embedding cost grows with length)."""
        first = self.description.split(". ")[0]
        return f"{self.title or self.connector} {self.operation.replace('_', ' ')}: {first}"

    def to_dict(self) -> dict[str, Any]:
        return {"connector": self.connector, "operation": self.operation, "description": self.description,
                "fields": self.fields, "outputs": self.outputs, "destructive": self.destructive}

    @property
    def rendered(self) -> str:
        """About what the context template renders for it (what its budget cost counts)."""
        return f"- {self.connector}.{self.operation} — {self.description} Fields: {self.fields}. Output: {self.outputs}."


@dataclass(frozen=True)
class WorkflowSummary:
    id: str
    name: str
    summary: str

    @property
    def text(self) -> str:
        return f"{self.name}. {self.summary}"


@dataclass
class Context:
    """The context of one request, ready to render into the ``copilot.context`` template."""

    operations: list[OperationEntry] = field(default_factory=list)
    workflows: list[WorkflowSummary] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    preferences: dict[str, str] = field(default_factory=dict)
    current_plan: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, str]] = field(default_factory=list)  # name, type, connectors (never secrets)
    retrieval: str = "embedding"
    tokens: int = 0
    left_out: list[str] = field(default_factory=list)

    def variables(self) -> dict[str, Any]:
        return {
            "operations": [o.to_dict() for o in self.operations],
            "workflows": [{"name": w.name, "summary": w.summary} for w in self.workflows],
            "duplicates": self.duplicates,
            "preferences": self.preferences,
            "current_plan": self.current_plan,
            "examples": self.examples,
            "credentials": self.credentials,
        }


def catalog_entries(catalog: Any) -> list[OperationEntry]:
    """Every operation of a registry, with its input fields and their types (required ones marked
    ``*``) and its output's fields (``app.copilot.catalog_shapes``)."""
    entries = []
    for connector in catalog:
        for op in connector.operations:
            entries.append(OperationEntry(connector.name, op.name, op.description.strip(), input_fields(op.input_model),
                                          bool(op.destructive), connector.title, output_shape(op.output_model)))
    return entries


# --- retrieval -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "to", "of", "and", "or", "in", "on", "at", "for", "it", "is", "be", "with", "by",
         "from", "every", "each", "me", "my", "this", "that", "when", "then", "if", "as", "into", "all"}


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if w not in _STOP}


# Vectors by (model, text), shared by every retriever of the process: a memo of a pure function,
# so a new Copilot (a test, a CLI batch) never embeds the same text twice, and a workspace's
# workflow list only costs the summaries that are new since the last request.
_MEMO: dict[tuple[str, str], np.ndarray] = {}
_MEMO_LOCK = threading.Lock()
_MEMO_MAX = 20_000


class Retriever:
    """Ranks texts by similarity to a query: cosine over embeddings, or word overlap."""

    def __init__(self, embedder: Any | None, cache_dir: Path | None = None) -> None:
        self.embedder = embedder
        self.cache_dir = cache_dir

    @property
    def mode(self) -> str:
        return "embedding" if self.embedder is not None else "lexical"

    def embed_query(self, text: str) -> np.ndarray | None:
        if self.embedder is None:
            return None
        return np.asarray(self._vectors([text])[0], dtype=np.float32)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        assert self.embedder is not None
        model = self.embedder.model_name
        with _MEMO_LOCK:
            missing = list(dict.fromkeys(t for t in texts if (model, t) not in _MEMO))
        if missing:
            vectors = np.asarray(self.embedder.embed(missing), dtype=np.float32)
            with _MEMO_LOCK:
                if len(_MEMO) + len(missing) > _MEMO_MAX:
                    _MEMO.clear()
                _MEMO.update({(model, t): v for t, v in zip(missing, vectors, strict=True)})
                found = {t: _MEMO[(model, t)] for t in texts if (model, t) in _MEMO}
            found.update(zip(missing, vectors, strict=True))
        else:
            with _MEMO_LOCK:
                found = {t: _MEMO[(model, t)] for t in texts}
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    def corpus(self, texts: Sequence[str], *, persist: bool = False) -> np.ndarray:
        """Vectors of ``texts``; with ``persist`` also kept on disk (the catalog and the examples)."""
        assert self.embedder is not None
        model = self.embedder.model_name
        path = None
        if persist and self.cache_dir is not None:
            key = hashlib.sha256(json.dumps([model, *texts]).encode()).hexdigest()[:24]
            path = self.cache_dir / f"copilot-vectors-{key}.npy"
            with _MEMO_LOCK:
                cached = all((model, t) in _MEMO for t in texts)
            if not cached and path.is_file():
                try:
                    stored = np.load(path)
                    if stored.shape[0] == len(texts):
                        with _MEMO_LOCK:
                            _MEMO.update({(model, t): v for t, v in zip(texts, stored, strict=True)})
                except (OSError, ValueError):
                    log.debug("unreadable copilot vectors in %s", path)
        vectors = self._vectors(texts)
        if path is not None and not path.is_file():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.stem + ".tmp.npy")
                np.save(tmp, vectors)
                tmp.replace(path)
            except OSError:
                log.debug("could not store copilot vectors in %s", path)
        return vectors

    def rank(self, query: str, query_vector: np.ndarray | None, texts: Sequence[str], *,
             persist: bool = False) -> list[tuple[int, float]]:
        """Indices of ``texts`` with their score, best first."""
        if not texts:
            return []
        if self.embedder is not None and query_vector is not None:
            scores = self.corpus(texts, persist=persist) @ query_vector
            return sorted(((i, float(s)) for i, s in enumerate(scores)), key=lambda p: -p[1])
        words = _words(query)
        ranked = []
        for i, text in enumerate(texts):
            other = _words(text)
            # coverage of the request's words, ties broken towards shorter (more specific) texts
            overlap = len(words & other) / (len(words) or 1) - len(other) * 1e-6
            ranked.append((i, overlap))
        return sorted(ranked, key=lambda p: -p[1])


def default_embedder() -> Any | None:
    """The offline MiniLM embedder, or None (with a log line) when its model files are missing."""
    from app.llm.embeddings import EmbeddingModelMissingError, MiniLMEmbedder

    try:
        return MiniLMEmbedder()
    except EmbeddingModelMissingError as exc:
        log.warning("copilot: %s; falling back to lexical catalog search", exc.message)
        return None


# --- builder ---------------------------------------------------------------------------------


class ContextBuilder:
    """Builds the context of a request from the catalog, the workspace and the examples."""

    def __init__(
        self,
        catalog: Any,
        retriever: Retriever,
        *,
        examples: Sequence[dict[str, Any]] = (),
        count_tokens: TokenCounter = approximate_tokens,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    ) -> None:
        self.entries = catalog_entries(catalog)
        self.readers: dict[str, list[str]] = {}  # credential type -> connectors that read it
        for connector in catalog:
            for kind in getattr(connector, "reads_credentials", ()):
                self.readers.setdefault(str(kind), []).append(connector.name)
        self.retriever = retriever
        self.examples = list(examples)
        self.count_tokens = functools.lru_cache(maxsize=4096)(count_tokens)  # catalog texts repeat
        self.budget_tokens = budget_tokens

    def build(
        self,
        request: str,
        *,
        workflows: Sequence[WorkflowSummary] = (),
        preferences: dict[str, str] | None = None,
        current_plan: dict[str, Any] | None = None,
        credentials: Sequence[Any] = (),
        extra_operations: Sequence[OperationEntry] = (),
    ) -> Context:
        """The context of ``request``; ``credentials`` are the workspace's (``name`` and ``type``),
        ``extra_operations`` the workspace's own (imported) operations, ranked with the catalog's."""
        ctx = Context(retrieval=self.retriever.mode)
        remaining = self.budget_tokens
        qvec = self.retriever.embed_query(request)

        if current_plan is not None:
            ctx.current_plan = json.dumps(current_plan, ensure_ascii=False, separators=(",", ":"))
            remaining -= self.count_tokens(ctx.current_plan)  # always in, whatever its size

        entries = [*self.entries, *extra_operations]
        ranked_ops = self.retriever.rank(request, qvec, [e.text for e in self.entries], persist=True)
        if extra_operations:  # not persisted: a workspace's own set changes with its imports
            offset = len(self.entries)
            ranked_extra = self.retriever.rank(request, qvec, [e.text for e in extra_operations])
            ranked_ops = sorted([*ranked_ops, *((offset + i, score) for i, score in ranked_extra)], key=lambda p: -p[1])
        for n, (i, _) in enumerate(ranked_ops[:MAX_OPERATIONS]):
            entry = entries[i]
            cost = self.count_tokens(entry.rendered)
            if n >= MIN_OPERATIONS and cost > remaining:
                ctx.left_out.append(f"operation {entry.connector}.{entry.operation}")
                continue
            ctx.operations.append(entry)
            remaining -= cost

        remaining -= self._credentials(ctx, credentials, remaining)

        for key, value in (preferences or {}).items():
            if value:
                cost = self.count_tokens(f"{key}: {value}") + 2
                if cost <= remaining:
                    ctx.preferences[key] = str(value)
                    remaining -= cost

        if workflows:
            ranked_wf = self.retriever.rank(request, qvec, [w.text for w in workflows])
            threshold = DUPLICATE_SIMILARITY if self.retriever.mode == "embedding" else DUPLICATE_OVERLAP
            for i, score in ranked_wf[:MAX_WORKFLOWS]:
                wf = workflows[i]
                cost = self.count_tokens(wf.text) + 4
                if cost > remaining:
                    ctx.left_out.append(f"workflow {wf.name}")
                    continue
                ctx.workflows.append(wf)
                remaining -= cost
                if score >= threshold:
                    ctx.duplicates.append(wf.name)

        if self.examples:
            wanted_kind = "edit" if current_plan is not None else None
            candidates = [e for e in self.examples if wanted_kind is None or e.get("current_plan")]
            candidates = candidates or self.examples
            ranked_ex = self.retriever.rank(request, qvec, [e["request"] for e in candidates], persist=True)
            for i, _ in ranked_ex[:MAX_EXAMPLES]:
                ex = candidates[i]
                rendered = {"request": ex["request"], "current_plan": ex.get("current_plan"),
                            "response": json.dumps(ex["response"], ensure_ascii=False, separators=(",", ":"))}
                plan_text = json.dumps(rendered["current_plan"], ensure_ascii=False) if rendered["current_plan"] else ""
                cost = self.count_tokens(rendered["request"] + rendered["response"] + plan_text) + 6
                if cost > remaining:
                    ctx.left_out.append("example")
                    continue
                ctx.examples.append(rendered)
                remaining -= cost
        ctx.tokens = self.budget_tokens - remaining
        return ctx

    def _credentials(self, ctx: Context, credentials: Sequence[Any], remaining: int) -> int:
        """Names and types of the credentials a step could use (at most ``MAX_CREDENTIALS``); the
        tokens they cost."""
        cost = 0
        for item in credentials:
            readers = self.readers.get(str(item.type))
            if not readers:
                continue
            entry = {"name": str(item.name), "type": str(item.type), "connectors": ", ".join(readers)}
            price = self.count_tokens(f"{entry['name']} {entry['type']} {entry['connectors']}") + 6
            if len(ctx.credentials) >= MAX_CREDENTIALS or cost + price > remaining:
                ctx.left_out.append(f"credential {entry['name']}")
                continue
            ctx.credentials.append(entry)
            cost += price
        return cost


__all__ = [
    "Context", "ContextBuilder", "OperationEntry", "Retriever", "WorkflowSummary", "approximate_tokens",
    "catalog_entries", "default_embedder",
]
