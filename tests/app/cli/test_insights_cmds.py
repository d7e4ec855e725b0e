"""`flowwright insights --format html|pdf` against the synthetic history in the test's data dir,
and its usage errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.settings import get_settings
from engine.db import make_engine
from engine.execution_store import ExecutionStore
from tests.app.insights.history import healthy, seed

runner = CliRunner()


@pytest.fixture
def history(_isolated_data_dir: Path) -> Path:
    db = make_engine(get_settings().resolved_database_url)
    seed(db, healthy(0.1), now=datetime.now(UTC), days=3)
    ExecutionStore(db).close()
    db.dispose()
    return _isolated_data_dir


def test_html_and_pdf_files(history: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    wrote = runner.invoke(app, ["insights", "--since", "3d", "-o", str(page)])  # the suffix picks html
    assert wrote.exit_code == 0, wrote.output
    assert page.read_text().startswith("<!DOCTYPE html>") and "<svg" in page.read_text()
    pdf = tmp_path / "report.pdf"
    wrote = runner.invoke(app, ["insights", "--since", "3d", "--format", "pdf", "-o", str(pdf)])
    assert wrote.exit_code == 0, wrote.output
    assert f"wrote {pdf} (pdf)" in " ".join(wrote.output.split()) and pdf.read_bytes().startswith(b"%PDF-")
    to_stdout = runner.invoke(app, ["insights", "--since", "3d", "--format", "html"])
    assert to_stdout.exit_code == 0 and "</html>" in to_stdout.output


def test_usage_errors_are_one_line(history: Path, tmp_path: Path) -> None:
    no_file = runner.invoke(app, ["insights", "--format", "pdf"])
    assert no_file.exit_code == 2 and "-o report.pdf" in no_file.output
    unknown = runner.invoke(app, ["insights", "--format", "docx"])
    assert unknown.exit_code == 2 and "text, md, csv, json, html, pdf" in unknown.output
    nowhere = runner.invoke(app, ["insights", "-o", str(tmp_path / "missing" / "r.md")])
    assert nowhere.exit_code == 2 and "No such file or directory" in nowhere.output
    assert "Traceback" not in nowhere.output
