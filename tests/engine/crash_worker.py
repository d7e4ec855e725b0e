"""A worker process for the crash tests: ``start DB WORKFLOW INPUT`` or ``recover DB``.

``start`` prints the execution id on the first line as soon as it exists, then drives the
execution to its end; the test kills it with SIGKILL somewhere in between. ``recover`` resumes
what the dead worker left and prints one JSON line per execution with its final state.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.engine.runtime_helpers import runtime_at


async def main(argv: list[str]) -> None:
    mode, db = argv[0], Path(argv[1])
    async with runtime_at(db) as rt:
        if mode == "start":
            workflow = json.loads(Path(argv[2]).read_text())
            execution_id = await rt.start(workflow, json.loads(argv[3]))
            print(execution_id, flush=True)
            await rt.wait(execution_id)
        else:
            for execution_id in await rt.recover():
                result = await rt.wait(execution_id)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
