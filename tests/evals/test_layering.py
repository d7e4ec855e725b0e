"""evals/ measures the service from outside: nothing in the service may import it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {REPO / "app" / "cli" / "eval_cmds.py"}  # the `flowwright eval` command is the one door


def _imports_evals(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "evals" or a.name.startswith("evals.") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "evals":
            return True
    return False


def test_the_service_does_not_import_evals() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("app", "engine", "connectors", "prompts")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path not in ALLOWED and _imports_evals(path)
    ]
    assert offenders == []
    assert _imports_evals(REPO / "app" / "cli" / "eval_cmds.py")  # the check does see a real import
