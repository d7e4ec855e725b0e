"""The plain Temporal workflow the Temporal benchmark compares against: ten sequential activities
that add 1, no Flowwright (its own module: the workflow sandbox re-imports it)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

PLAIN_QUEUE = "plain-linear10"


@activity.defn(name="plain.add")
async def add(x: int) -> int:
    """One step of the plain workflow."""
    return x + 1


@workflow.defn(name="PlainLinear10")
class PlainLinear10:
    """Ten sequential activities, as linear10 has ten nodes."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Add 1 ten times, one activity each."""
        for _ in range(10):
            n = await workflow.execute_activity("plain.add", n, start_to_close_timeout=timedelta(seconds=60))
        return n
