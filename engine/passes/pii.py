"""Pass: ``pii_redaction`` between the trigger and every model step that reads trigger data.

The redaction guardrail goes right after the trigger (after the input schema check), so its input
is exactly the trigger's data; each ``llm.*`` step's reads of ``trigger`` are rewritten to read
the redacted copy (``nodes.<guard>``). Other steps (the reply email that needs the customer's real
address, say) keep reading the trigger.
"""

from __future__ import annotations

from typing import Any

from engine.passes.graph import Editor, guardrail, refers_to, rewrite_refs
from engine.passes.operations import is_llm
from engine.workflow import Workflow


def apply(workflow: Workflow, catalog: Any = None) -> Workflow:  # noqa: ARG001 - every pass takes the catalog
    """Insert one redaction guardrail and point the model steps that read the trigger at it."""
    edit = Editor(workflow)
    trigger = edit.trigger
    readers = [n for n, _, _ in edit.all_nodes() if is_llm(n) and refers_to(n.get("config"), "trigger")]
    if not readers:
        return workflow
    chain = edit.guard_chain_after(edit.data, trigger["id"])
    guard = next((g for g in chain if g.get("kind") == "pii_redaction"), None)
    if guard is None:
        names = ", ".join(f"{n['id']} (llm.{n.get('operation')})" for n in readers)
        reason = (f"Masks emails, phone numbers, card numbers, IBANs and national ids in the trigger data "
                  f"before the model steps {names} see it.")
        guard = guardrail(edit.unique_id("redact_pii"), "pii_redaction", {}, reason, "Redact personal data")
        edit.insert_after(edit.data, chain[-1]["id"] if chain else trigger["id"], guard)
    for node in readers:
        node["config"] = rewrite_refs(node.get("config"), "trigger", f"nodes.{guard['id']}")
    return edit.result()
