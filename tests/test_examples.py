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
