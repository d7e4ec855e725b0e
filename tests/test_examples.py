"""The examples the README's tour uses validate and run."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.registry import default_registry
from engine.db import make_engine
from engine.execution_store import ExecutionStore
from engine.runtime import Runtime
from engine.validation import validate_workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def test_orders_example_runs(tmp_path: Path) -> None:
    workflow = json.loads((EXAMPLES / "orders.json").read_text())
    assert validate_workflow(workflow, default_registry()).problems == []
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    runtime = Runtime(store, default_registry())
    try:
        result = await runtime.run(workflow, json.loads((EXAMPLES / "orders.input.json").read_text()))
    finally:
        await runtime.aclose()
        store.close()
    assert result["status"] == "completed"
    assert [o["message"] for o in result["output"]["each_big"]] == ["big order A-2: 4200", "big order A-3: 1800"]
    assert result["output"]["summary"]["message"] == "3 orders, 6250 in total"


async def test_digest_example_runs(tmp_path: Path) -> None:
    workflow = json.loads((EXAMPLES / "digest.json").read_text())
    assert validate_workflow(workflow, default_registry()).problems == []
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    runtime = Runtime(store, default_registry())
    try:
        result = await runtime.run(workflow, {"week": 47})
    finally:
        await runtime.aclose()
        store.close()
    assert result["status"] == "completed" and result["failed_steps"] == 0
    assert [o["message"] for o in result["output"]["each_region"]] == ["big region north: 7200", "big region east: 5400"]
    assert result["output"]["send_digest"]["message"] == "week 47: 14700 in sales"


def test_every_example_the_readme_names_exists() -> None:
    import re

    readme = (EXAMPLES.parent / "README.md").read_text()
    named = set(re.findall(r"(?<![\w/])examples/([\w.-]+\.json)(?!\w)", readme))
    assert named and {n for n in named if not (EXAMPLES / n).exists()} == set()


async def test_new_orders_example_validates_and_dry_runs_one_row(tmp_path: Path) -> None:
    workflow = json.loads((EXAMPLES / "new-orders.json").read_text())
    assert validate_workflow(workflow, default_registry()).problems == []
    store = ExecutionStore(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    runtime = Runtime(store, default_registry())
    try:  # a polled row is the run's input; by hand it can be given as one
        result = await runtime.run(workflow, {"id": 7, "email": "ada@example.com", "customer_name": "Ada"},
                                   dry_run=True)
    finally:
        await runtime.aclose()
        store.close()
    assert result["status"] == "completed", result
    steps = {s["node_id"]: s for s in result["steps"]}
    assert steps["tidy"]["output"]["value"] == {"to": "ada@example.com", "subject": "Thank you for your order",
                                                "body": "Ada"}
