"""Gateway figures: litellm import time, CLI start-up, and the gateway's own overhead per call.

Overhead is measured with the local provider and a trivial handler (it returns a constant), so the
number is what the gateway path costs by itself: litellm + instructor + token counting + budget
check + a usage row in SQLite. Run: ``.venv/bin/python bench/gateway.py [--calls 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel


class Step(BaseModel):
    name: str
    count: int


def _subprocess_seconds(code: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    baseline = _subprocess_seconds("pass")
    import_litellm = _subprocess_seconds("import app.llm, litellm") - baseline
    load = _subprocess_seconds("from app.llm.providers import load_litellm; load_litellm()") - baseline
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOWWRIGHT_DATA_DIR": tmp}
        cli = []
        for argv in (["--help"], ["usage", "--json"], ["budget", "show"]):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app.cli.main", *argv], check=True, capture_output=True, env=env)
            cli.append((" ".join(argv), time.perf_counter() - started))

    from app.llm.gateway import Gateway
    from app.llm.local_provider import set_local_handler
    from app.settings import Settings
    from engine.db import make_engine

    set_local_handler(lambda _m, schema: '{"name": "x", "count": 1}' if schema else "ok")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        gateway = Gateway(settings, make_engine(settings.resolved_database_url))
        messages = [{"role": "system", "content": "[flowwright:task=extract] fields: name, count"},
                    {"role": "user", "content": "name x, count 1"}]
        started = time.perf_counter()
        gateway.generate(messages, Step, purpose="generate", workspace_id="bench")
        first_call = time.perf_counter() - started
        structured, text = [], []
        for _ in range(args.calls):
            started = time.perf_counter()
            gateway.generate(messages, Step, purpose="generate", workspace_id="bench")
            structured.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            gateway.complete(messages, purpose="llm-node", workspace_id="bench")
            text.append((time.perf_counter() - started) * 1000)

    def pct(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1], 2)

    report = {
        "litellm_import_s": round(import_litellm, 2),
        "load_litellm_s (import + config + warm-up)": round(load, 2),
        "cli_s": {name: round(seconds, 2) for name, seconds in cli},
        "first_generate_in_process_s": round(first_call, 2),
        "generate_overhead_ms": {"p50": pct(structured, 50), "p95": pct(structured, 95)},
        "complete_overhead_ms": {"p50": pct(text, 50), "p95": pct(text, 95)},
        "calls": args.calls,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
