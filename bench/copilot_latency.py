"""Copilot generation latency with the local model: p50/p95 of uncached ``Copilot.generate``.

Usage: ``python bench/copilot_latency.py [--rounds N] [--json]``. Runs in a throw-away data dir,
semantic cache off (every request is uncached), after one warm-up request that loads the
embedding model and the catalog vectors (start-up cost, reported separately). Each round sends
every prompt below once, in a new conversation, and a refinement turn after each new workflow.
Rounds after the first repeat the prompts: the semantic cache is off, but embeddings of texts
seen before are memoised in the process, so ``first_seen_*`` reports the first round alone.
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

PROMPTS = [
    "Every Monday at 9am Berlin time, fetch https://api.example.com/sales and email the total to alice@example.com",
    "When a support ticket arrives by webhook, classify it as bug, billing or question and post bugs to #eng",
    "Every day at 7:00, get the customers from https://crm.example.com/customers and email each one with an overdue invoice",
    "When an order webhook comes in, if the amount is over 1000 post it to #sales, otherwise log it",
    "Every hour fetch https://status.example.com/api and https://billing.example.com/health at the same time and combine them",
    "Twice a day, query the orders table and post a summary to #ops",
    "When a form is submitted, extract the name and email and insert them into the leads table",
    "At 5pm Tokyo time on weekdays, summarize https://news.example.com/feed and send it to bob@example.com",
    "Send a weekly report every Friday",
    "When a refund request webhook arrives, call https://payments.example.com/refunds and tell #finance",
    "Every 15 minutes, check https://api.example.com/queue and if it has more than 100 items, alert #oncall",
    "For each new signup webhook, wait 2 days, then email them a welcome message from hello@example.com",
]
REFINEMENTS = ["also post it to #sales", "send it to bob@example.com too", "make it Fridays instead"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--blas-threads", default="1", help="OpenBLAS threads (default 1: on a small, "
                        "shared machine more threads oversubscribe the cores and make MiniLM ~10x slower)")
    args = parser.parse_args()
    if args.blas_threads:
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = args.blas_threads

    data_dir = Path(tempfile.mkdtemp(prefix="flowwright-bench-"))
    os.environ["FLOWWRIGHT_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app.settings import Settings
    from app.wiring import Container

    started = time.perf_counter()
    copilot = Container(Settings(data_dir=data_dir, cache_enabled=False)).copilot
    copilot.generate(PROMPTS[0], workspace_id="warmup")
    startup_ms = (time.perf_counter() - started) * 1000

    generate: list[float] = []
    first_round: list[float] = []  # each prompt seen for the first time: no memoised embeddings
    refine: list[float] = []
    stages: dict[str, list[float]] = {}
    kinds: dict[str, int] = {}
    for round_no in range(args.rounds):
        for i, prompt in enumerate(PROMPTS):
            t0 = time.perf_counter()
            turn = copilot.generate(prompt, workspace_id=f"bench{round_no}")
            generate.append((time.perf_counter() - t0) * 1000)
            if round_no == 0:
                first_round.append(generate[-1])
            kinds[turn.kind] = kinds.get(turn.kind, 0) + 1
            for key, value in turn.timings.items():
                stages.setdefault(key, []).append(value)
            if turn.kind == "workflow":
                t0 = time.perf_counter()
                copilot.send(turn.conversation_id, REFINEMENTS[i % len(REFINEMENTS)])
                refine.append((time.perf_counter() - t0) * 1000)

    report = {
        "model": copilot.pipeline.gateway.model,
        "requests": len(generate),
        "outcomes": kinds,
        "startup_ms": round(startup_ms),
        "generate_p50_ms": round(percentile(generate, 0.5), 1),
        "generate_p95_ms": round(percentile(generate, 0.95), 1),
        "generate_mean_ms": round(statistics.fmean(generate), 1),
        "first_seen_p50_ms": round(percentile(first_round, 0.5), 1),
        "first_seen_p95_ms": round(percentile(first_round, 0.95), 1),
        "refine_p50_ms": round(percentile(refine, 0.5), 1) if refine else None,
        "refine_p95_ms": round(percentile(refine, 0.95), 1) if refine else None,
        "stages_p50_ms": {k: round(percentile(v, 0.5), 1) for k, v in stages.items()},
        "cpus": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
