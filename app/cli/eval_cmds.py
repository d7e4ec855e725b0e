"""`flowwright eval`: measure generation quality on an eval dataset, for any model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.output import console, err_console, fail, print_json


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    dataset: Annotated[str, typer.Option("--dataset", help="'all', a file name of the split, or a .jsonl path.")] = "all",
    model: Annotated[str | None, typer.Option("--model", help="litellm model; 'reference' scores the references "
                                              "themselves. Default: FLOWWRIGHT_MODEL.")] = None,
    split: Annotated[str, typer.Option("--split", help="dev or heldout.")] = "dev",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write a Markdown report (and .json beside it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    update_baseline: Annotated[bool, typer.Option("--update-baseline", help="Save this run as the baseline.")] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Allowed drop (0..1) before a regression.")] = 0.02,
    baseline_dir: Annotated[Path | None, typer.Option("--baseline-dir", help="Where baselines live.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run/--no-dry-run", help="Dry-run each valid workflow "
                                          "(executability).")] = True,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Use the semantic cache (off: every "
                                        "case is generated afresh).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show each case as it ends; list failing cases.")] = False,
) -> None:
    """Run an eval split, print a table per category, and fail (exit 1) on a regression against the baseline."""
    from app.settings import get_settings
    from evals.baseline import BASELINES_DIR, baseline_path
    from evals.dataset import DatasetError, load_dataset
    from evals.executability import DryRunner
    from evals.generators import CopilotGenerator, Generator, ReferenceGenerator
    from evals.report import write_reports
    from evals.runner import run_eval

    if not 0 <= tolerance <= 1:
        fail("--tolerance must be between 0 and 1")
    try:
        data = load_dataset(dataset, split)
    except DatasetError as exc:
        fail(f"{exc.code}: {exc}")
    model_name = model or get_settings().model
    generator: Generator
    if model_name == "reference":
        generator = ReferenceGenerator()
    else:
        try:
            generator = CopilotGenerator(model_name, cache=cache)
        except Exception as exc:  # a missing key or an unknown model: one line, no traceback
            fail(f"cannot start the copilot with model {model_name!r}: {exc}")
    checker = DryRunner() if dry_run else None
    if not as_json:
        err_console.print(f"[dim]running {len(data.cases)} cases of {data.name}/{split} with {model_name}…[/]")
    try:
        def progress(case: Any) -> None:
            mark = "✓" if case.passed else "✗"
            err_console.print(f"{mark} {case.id} [{case.category}]", markup=False, style="dim")

        result = run_eval(data, generator, dry_run=checker, progress=progress if verbose and not as_json else None)
    finally:
        if checker is not None:
            checker.close()

    path = baseline_path(data.name, split, model_name, baseline_dir or BASELINES_DIR)
    regressed, comparison = _compare_with_baseline(result, path, update=update_baseline, tolerance=tolerance)
    if output is not None:
        write_reports(result, output, comparison)
    if as_json:
        print_json({**result.to_dict(), "baseline": {"path": str(path), "regressed": regressed, "lines": comparison}})
    else:
        _print_result(result, comparison, output, verbose=verbose)
    raise typer.Exit(1 if regressed else 0)


def _compare_with_baseline(result: Any, path: Path, *, update: bool, tolerance: float) -> tuple[bool, list[str]]:
    """Save ``result`` as the baseline, or compare it with the saved one: (regressed, report lines)."""
    from evals.baseline import compare, load_baseline, save_baseline

    if update:
        save_baseline(result, path)
        return False, [f"baseline written: {path}"]
    saved = load_baseline(path)
    if saved is None:
        return False, [f"no baseline at {path} (save one with --update-baseline)"]
    regressed, lines = compare(result, saved, tolerance)
    return regressed, list(lines)


def _print_result(result: Any, comparison: list[str], output: Path | None, *, verbose: bool) -> None:
    from rich.console import Console

    from evals.report import failures, rich_table

    # A pipe or CI log has no width of its own: do not squeeze the table into 80 columns.
    wide = console if console.is_terminal else Console(highlight=False, soft_wrap=True, width=180)
    wide.print(rich_table(result))
    if verbose:
        for line in failures(result):
            console.print(f"✗ {line}", markup=False, style="red")
    for line in comparison:
        style = "bold red" if "REGRESSION" in line else "dim"
        console.print(line, markup=False, style=style)
    if output is not None:
        console.print(f"[dim]report written to {output} and {output.with_suffix('.json')}[/]")
