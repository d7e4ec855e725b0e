"""Pass: retry (exponential backoff) and timeout defaults on every external call lacking them.

Steps that delete data or move money and are not idempotent get 2 attempts instead of 3: a
repeated charge is worse than a failed one that a person can re-run.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor
from engine.passes.operations import default_timeout, is_destructive, op_info
from engine.workflow import Workflow

DEFAULT_ATTEMPTS = 3
CAUTIOUS_ATTEMPTS = 2


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:
    """Give external actions a retry policy and a timeout when they have none."""
    edit = Editor(workflow)
    changed = False
    for node, _, _ in edit.all_nodes():
        if node.get("type") != "action":
            continue
        info = op_info(catalog, node)
        if not info.external:
            continue
        if node.get("retry") is None:
            cautious = not info.idempotent and is_destructive(catalog, node) is not None
            # max_delay_s and jitter keep their defaults (60 s, on): left out, so the policy
            # reads the same after a round trip through the copilot's plan form.
            node["retry"] = {"max_attempts": CAUTIOUS_ATTEMPTS if cautious else DEFAULT_ATTEMPTS,
                             "backoff": "exponential", "initial_delay_s": 1.0}
            changed = True
        if node.get("timeout_s") is None:
            node["timeout_s"] = default_timeout(node)
            changed = True
    return edit.result() if changed else workflow
