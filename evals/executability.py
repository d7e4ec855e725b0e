"""Executability: does a generated workflow run to completion in the engine's dry run?

The dry run replaces every external connector with a recorder that returns a schema-valid sample,
so nothing is sent anywhere. Filled in once the engine's dry-run entry point lands; until then
``dry_run_checker`` returns None and reports show executability as "–".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def dry_run_checker() -> Callable[[dict[str, Any]], bool] | None:
    """A function telling whether a valid workflow completes in a dry run, or None if unavailable."""
    return None
