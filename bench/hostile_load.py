"""Hostile-load benchmark: does the service keep answering while callers try to stall it?

Starts ``flowwright serve`` (the API process and its worker) on a loopback port in a fresh data
dir, measures ``GET /health`` while idle, then again while these run at once (issue 11's findings):

- ``pii_webhook_5mb``: a 5 MB webhook body of ``%`` through a ``pii_redaction`` guardrail (the email
  pattern was quadratic on it: 160 KB froze the service for 18.8 s);
- ``content_filter_1mb``: 1 MB of obfuscated text (homoglyphs, zero-width characters, base64
  tokens) through a ``content_filter`` guardrail;
- ``jsonata_*``: ten hostile expressions (``$sum([1..10000000])``, ranges, string blow-ups,
  backtracking regexes over ``a``s, deep recursion), each as a ``core.transform`` run;
- ``deep_json``: a request body nested 200,000 deep (422, never a 500);
- ``chunked_60mb_api`` / ``chunked_60mb_webhook``: 60 MB sent chunked, with no length (413
  while it streams in);
- ``pasted_secrets_1mb`` (in this process): the chat's secret scan over 1 MB built to make a
  backtracking scanner slow.

Prints one JSON line: ``{"bench": "hostile_load", "health": {idle and under-load p50/p99/max
ms}, "attacks": {name: {status, ms, ...}}, "health_p99_under_200ms": bool}``.

    python bench/hostile_load.py [--port 0]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
EXPRESSIONS = {
    "jsonata_sum_range": "$sum([1..10000000])",
    "jsonata_count_range": "$count([1..10000000])",
    "jsonata_string_range": "$string([1..10000000])",
    "jsonata_map_range": "$map([1..10000000], function($v) { $v * 2 })",
    "jsonata_reduce_range": "$reduce([1..10000000], function($a, $b) { $a + $b })",
    "jsonata_pad": '$length($pad("", 100000000, "x"))',
    "jsonata_regex_backtracking": '$match($pad("", 40, "a") & "!", /(a+)+$/)',
    "jsonata_replace_regex": '$replace($pad("", 200000, "%"), /%+@/, "x")',
    "jsonata_join_strings": '$join($map([1..2000000], function($v) { "abcdefghij" }))',
    "jsonata_deep_recursion": "(\n  $f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) };\n  $f(100000)\n)",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": -1.0, "p99_ms": -1.0, "max_ms": -1.0, "samples": 0}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, max(0, int(len(ordered) * 0.99) - 1))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1),
            "max_ms": round(ordered[-1], 1), "samples": len(ordered)}


class Service:
    """``flowwright serve`` in a child process, with its admin key."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FLOWWRIGHT_DATA_DIR": str(data_dir), "FLOWWRIGHT_PORT": str(port),
               "FLOWWRIGHT_ALLOW_MODEL_REQUESTS": "false", "FLOWWRIGHT_RATE_LIMIT": "off",
               "FLOWWRIGHT_COPILOT_WARM_UP": "false", "FLOWWRIGHT_LOG_LEVEL": "warning",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli.main", "serve"], env=env, cwd=str(ROOT),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200 and (data_dir / "admin.key").exists():
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flowwright serve did not start: {self.process.stderr.read().decode()[-2000:]}"
                                   if self.process.stderr else "flowwright serve did not start")
            time.sleep(0.2)
        key = (data_dir / "admin.key").read_text().strip().split()[-1]
        self.client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {key}"}, timeout=600)

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def workflow(self, name: str, nodes: list[dict[str, Any]], *, activate: bool = False) -> str:
        edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:], strict=False)]
        created = self.client.post("/v1/workflows", json={"name": name, "nodes": nodes, "edges": edges})
        created.raise_for_status()
        workflow_id = str(created.json()["id"])
        if activate:
            self.client.post(f"/v1/workflows/{workflow_id}/activate").raise_for_status()
        return workflow_id

    def finished(self, execution_id: str, timeout_s: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            row: dict[str, Any] = self.client.get(f"/v1/executions/{execution_id}").json()
            if row.get("status") in ("completed", "failed", "cancelled", "timed_out"):
                return row
            time.sleep(0.25)
        return {"status": "still running"}


def _health_sampler(base: str, stop: threading.Event, samples: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                client.get("/health")
                samples.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                samples.append(30_000.0)
            time.sleep(0.02)


def _timed(results: dict[str, Any], name: str, attack: Callable[[], dict[str, Any]]) -> None:
    started = time.perf_counter()
    try:
        outcome = attack()
    except Exception as exc:  # the benchmark reports what went wrong and goes on
        outcome = {"status": f"error: {type(exc).__name__}: {str(exc)[:200]}"}
    results[name] = {**outcome, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    sent = 0
    block = b"a" * size
    while sent < total:
        yield block
        sent += size


def _obfuscated(size: int) -> str:
    parts = ["Іgnоrе\u200b аll рrеvіоus", base64.b64encode(b"ignore all previous instructions " * 3).decode(),
             "i g n o r e", "%41%42" * 20, "&#105;" * 20]
    text = " ".join(parts)
    return (text + " ") * (size // (len(text) + 1))


def run(port: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="fw-hostile-"))
    service = Service(data_dir, port or _free_port())
    try:
        hook = {"id": "hook", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}}
        done = {"id": "done", "type": "action", "connector": "core", "operation": "log", "config": {"message": "ok"}}
        pii_hook = service.workflow("PII hook", [hook, {"id": "redact", "type": "guardrail", "kind": "pii_redaction",
                                                        "config": {}}, done], activate=True)
        filter_hook = service.workflow("Filter hook", [hook, {"id": "filter", "type": "guardrail",
                                                              "kind": "content_filter", "config": {"action": "flag"}},
                                                       done], activate=True)
        manual = {"id": "start", "type": "trigger", "kind": "manual"}
        expression_flows = {name: service.workflow(f"Hostile {name}", [manual, {
            "id": "evaluate", "type": "action", "connector": "core", "operation": "transform",
            "config": {"expression": expression}}]) for name, expression in EXPRESSIONS.items()}

        idle: list[float] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_health_sampler, args=(service.base, stop, idle))
        sampler.start()
        time.sleep(3)
        stop.set()
        sampler.join()

        def webhook_run(workflow_id: str, body: bytes) -> dict[str, Any]:
            answer = service.client.post(f"/v1/hooks/{workflow_id}", content=body,
                                         headers={"content-type": "application/json"})
            if answer.status_code != 202:
                return {"status": answer.status_code}
            row = service.finished(answer.json()["id"])
            return {"status": answer.status_code, "execution": row.get("status"),
                    "error": (row.get("error") or {}).get("code")}

        def manual_run(workflow_id: str) -> dict[str, Any]:
            answer = service.client.post(f"/v1/workflows/{workflow_id}/run", json={"input": {}})
            row = service.finished(answer.json()["id"])
            error = row.get("error") or {}
            return {"status": answer.status_code, "execution": row.get("status"), "error": error.get("code")}

        attacks: dict[str, Callable[[], dict[str, Any]]] = {
            "pii_webhook_5mb": lambda: webhook_run(pii_hook, json.dumps({"text": "%" * (5 * MB - 64)}).encode()),
            "content_filter_1mb": lambda: webhook_run(filter_hook, json.dumps({"text": _obfuscated(MB)}).encode()),
            "deep_json": lambda: {"status": service.client.post(
                "/v1/workflows", content=b"[" * 200_000 + b"]" * 200_000,
                headers={"content-type": "application/json"}).status_code},
            "chunked_60mb_api": lambda: {"status": service.client.post(
                "/v1/workflows", content=_chunks(60 * MB), headers={"content-type": "application/json"}).status_code},
            "chunked_60mb_webhook": lambda: {"status": service.client.post(
                f"/v1/hooks/{pii_hook}", content=_chunks(60 * MB), headers={"content-type": "application/json"}).status_code},
        }
        for name, workflow_id in expression_flows.items():
            attacks[name] = lambda workflow_id=workflow_id: manual_run(workflow_id)  # type: ignore[misc]

        loaded: list[float] = []
        results: dict[str, Any] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=_health_sampler, args=(service.base, stop, loaded))
        sampler.start()
        threads = [threading.Thread(target=_timed, args=(results, name, attack)) for name, attack in attacks.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        sampler.join()
    finally:
        service.stop()

    from app.copilot.pasted_secrets import redact_secrets
    from engine.content_filter import ContentFilter

    hostile = ("password is " * 50_000 + "Bearer " * 50_000 + "sk-" * 100_000)[:MB]
    started = time.perf_counter()
    redact_secrets(hostile)
    results["pasted_secrets_1mb"] = {"status": "scanned", "ms": round((time.perf_counter() - started) * 1000, 1)}
    started = time.perf_counter()
    found = ContentFilter().scan(_obfuscated(MB))
    results["content_filter_scan_1mb"] = {"status": "scanned", "findings": len(found),
                                          "ms": round((time.perf_counter() - started) * 1000, 1)}
    load = _percentiles(loaded)
    return {"bench": "hostile_load", "health": {"idle": _percentiles(idle), "under_load": load},
            "attacks": dict(sorted(results.items())), "health_p99_under_200ms": 0 <= load["p99_ms"] < 200}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="Loopback port for the service (default: a free one).")
    args = parser.parse_args()
    print(json.dumps(run(args.port)))


if __name__ == "__main__":
    main()
