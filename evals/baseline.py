"""Saved baselines (``evals/baselines/<dataset>-<split>-<model slug>.json``) and regression checks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evals.runner import EvalResult

BASELINES_DIR = Path(__file__).parent / "baselines"
GUARDED_METRICS = ("pass_rate", "valid_rate", "node_f1", "edge_f1")
DEFAULT_TOLERANCE = 0.02
SAVED_METRICS = (*GUARDED_METRICS, "turn_pass_rate", "edit_similarity", "guardrail_recall", "question_precision",
                 "question_recall", "executable_rate", "cases", "turns", "passed")


def model_slug(model: str) -> str:
    """``local/flowwright-planner`` -> ``local-flowwright-planner`` (safe in a file name)."""
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "model"


def baseline_path(dataset: str, split: str, model: str, root: Path = BASELINES_DIR) -> Path:
    return root / f"{dataset}-{split}-{model_slug(model)}.json"


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def baseline_data(result: EvalResult) -> dict[str, Any]:
    """What a baseline keeps: the guarded figures, a few more, and which cases passed."""
    data: dict[str, Any] = {
        "dataset": result.dataset,
        "split": result.split,
        "model": result.model,
        "dataset_version": result.dataset_version,
    }
    data.update({k: _round(result.summary.get(k)) for k in SAVED_METRICS})
    data["by_category"] = {name: _round(s.get("pass_rate")) for name, s in result.by_category.items()}
    if result.split != "heldout":  # held-out case ids would tell a tuner which unseen cases fail
        data["passed_cases"] = sorted(c.id for c in result.cases if c.passed)
    return data


def save_baseline(result: EvalResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline_data(result), indent=2) + "\n", encoding="utf-8")
    return path


def load_baseline(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def compare(result: EvalResult, baseline: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE) -> tuple[bool, list[str]]:
    """(regressed, lines): a guarded metric more than ``tolerance`` below the baseline is a regression.

    Cases that passed in the baseline and fail now are listed too (for reading, not for failing:
    one flaky case should not fail CI when the rate holds).
    """
    lines = []
    regressed = False
    if baseline.get("dataset_version") != result.dataset_version:
        lines.append(f"note: baseline is for dataset v{baseline.get('dataset_version')}, "
                     f"this run used v{result.dataset_version}")
    for metric in GUARDED_METRICS:
        old, new = baseline.get(metric), result.summary.get(metric)
        if old is None or new is None:
            continue
        delta = round(new - old, 4) + 0.0  # baselines keep 4 digits; + 0.0 turns -0.0 into 0.0
        status = "ok"
        if delta < -tolerance - 1e-9:
            status = "REGRESSION"
            regressed = True
        lines.append(f"{metric}: {new:.4f} (baseline {old:.4f}, {delta:+.4f}) {status}")
    if "passed_cases" not in baseline:  # a held-out baseline keeps no case ids
        return regressed, lines
    now_passing = {c.id for c in result.cases if c.passed}
    lost = sorted(set(baseline["passed_cases"]) - now_passing)
    gained = sorted(now_passing - set(baseline["passed_cases"]))
    if lost:
        lines.append(f"newly failing ({len(lost)}): {', '.join(lost[:20])}{' …' if len(lost) > 20 else ''}")
    if gained:
        lines.append(f"newly passing ({len(gained)}): {', '.join(gained[:20])}{' …' if len(gained) > 20 else ''}")
    return regressed, lines
