"""`flowwright dlq list|show|replay|purge` on a real SQLite data dir, against a real HTTP service
on loopback that is down, then up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.settings import get_settings
from tests.app.cli.test_workflows_cmds import run, run_json
from tests.app.flaky_service import calling, flaky_service


def test_a_failed_run_is_listed_replayed_and_purged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWWRIGHT_HTTP_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    with flaky_service() as service:
        path = tmp_path / "wf.json"
        path.write_text(json.dumps(calling(service.url)))
        code, out, err = run("run", str(path), "--json")
        assert code == 1, (out, err)
        failed_id = json.loads(out)["id"]

        (circuit,) = run_json("circuits")  # two failures of 50: still closed, and counted
        assert circuit["key"] == "http:127.0.0.1" and circuit["state"] == "closed" and circuit["failures"] == 2
        code, out, _ = run("circuits", "--reset", "http:127.0.0.1")
        assert code == 0 and run_json("circuits") == []
        code, _, err = run("circuits", "--reset", "http:nowhere")
        assert code == 1 and "no circuit breaker" in err

        (letter,) = run_json("dlq", "list")
        assert letter["execution_id"] == failed_id and letter["reason"] == "retries_exhausted"
        assert run_json("dlq", "list", "--workspace", "other") == []
        assert run_json("dlq", "show", failed_id)["node_id"] == "check"
        code, _, err = run("dlq", "show", "ex_missing")
        assert code == 1 and "no dead letter" in err

        code, _, err = run("dlq", "replay", failed_id, "--input", "{nope")
        assert code == 2 and "--input is not JSON" in err
        code, out, err = run("dlq", "replay", failed_id, "--json")  # still down: fails again
        assert code == 1, (out, err)
        second = json.loads(out)
        assert second["status"] == "failed" and second["replay_of"] == failed_id

        service.down = False
        code, out, err = run("dlq", "replay", second["id"], "--input", "{}", "--json")
        assert code == 0, (out, err)
        assert json.loads(out)["status"] == "completed"
        assert run_json("dlq", "list") == []
        assert len(run_json("dlq", "list", "--all")) == 2

        code, _, err = run("dlq", "purge")
        assert code == 2 and "--all" in err
        assert run_json("dlq", "purge", "--all") == {"purged": 2}
