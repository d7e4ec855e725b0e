"""Loading litellm (lazily, offline) and registering Flowwright's own providers with it.

``load_litellm()`` is the one place that imports litellm. It:

* relies on ``app/llm/__init__`` having set ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (no price-map
  download at import);
* turns off what could reach the network or the terminal at call time: Hugging Face tokenizer
  downloads in ``token_counter`` (tiktoken's ``cl100k_base`` ships inside litellm), debug banners
  printed on errors, litellm's own retries (the gateway retries with tenacity), and callbacks;
* registers the custom providers ``local/`` (the built-in offline model) and ``fake/`` (the scripted
  test model) in ``litellm.custom_provider_map``, so both go through litellm's real code path.
"""

from __future__ import annotations

import logging
import threading
import warnings
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_loaded: ModuleType | None = None

LOCAL_PROVIDER = "local"
FAKE_PROVIDER = "fake"
OFFLINE_PROVIDERS = frozenset({LOCAL_PROVIDER, FAKE_PROVIDER})


def provider_of(model: str) -> str:
    """The litellm provider prefix of a model string (``openai/gpt-4o-mini`` → ``openai``)."""
    return model.split("/", 1)[0] if "/" in model else ""


def _warm_up(litellm: ModuleType) -> None:
    """Build litellm's deferred pydantic models now, once, instead of inside the first request.

    Building them makes pydantic warn that litellm's ``ChatCompletionReasoningItem`` TypedDict uses
    ``ReadOnly`` (harmless, litellm's own typing); the warning is silenced here rather than leaking
    to the terminal, or failing a test suite that turns warnings into errors, on the first call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*`ReadOnly` qualifier", category=UserWarning)
        litellm.ModelResponse(
            choices=[{"index": 0, "message": {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                "finish_reason": "stop"}],
            usage=litellm.Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        )
        from litellm.types.router import LiteLLM_Params

        LiteLLM_Params(model="warm-up")


def load_litellm() -> ModuleType:
    """Import and configure litellm once; register the ``local`` and ``fake`` providers."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        import litellm

        import app.llm  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before the import below)

        litellm.suppress_debug_info = True
        litellm.disable_hf_tokenizer_download = True
        litellm.telemetry = False  # gone in recent releases; harmless where it still exists
        litellm.num_retries = 0
        litellm.drop_params = True  # a provider that lacks a sampling parameter ignores it
        # instructor logs every failed attempt at ERROR; the gateway raises a typed error for each, so
        # keep those lines out of the terminal (Python's last-resort handler) unless logging is set up.
        logging.getLogger("instructor").addHandler(logging.NullHandler())

        from app.llm.fake_provider import fake_model
        from app.llm.local_provider import local_provider

        entries: list[Any] = [
            entry for entry in (litellm.custom_provider_map or [])
            if entry.get("provider") not in OFFLINE_PROVIDERS
        ]
        entries.append({"provider": LOCAL_PROVIDER, "custom_handler": local_provider()})
        entries.append({"provider": FAKE_PROVIDER, "custom_handler": fake_model()})
        litellm.custom_provider_map = entries
        # litellm reads the map when a request is made, through this helper that updates its
        # provider list and handler table; call it now so the first request needs no set-up.
        from litellm.utils import custom_llm_setup

        custom_llm_setup()  # type: ignore[no-untyped-call]
        _warm_up(litellm)
        _loaded = litellm
        return litellm
