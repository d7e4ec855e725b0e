"""`flowwright cache stats|clear|purge`: the semantic cache of model answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from app.llm.semantic_cache import SemanticCache

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    cache = typer.Typer(help="The semantic cache of model answers (chromadb in the data dir).", no_args_is_help=True)
    cache.command("stats")(stats)
    cache.command("clear")(clear)
    cache.command("purge")(purge)
    app.add_typer(cache, name="cache")


def _open() -> SemanticCache:
    from pydantic import ValidationError

    from app.llm.semantic_cache import open_cache
    from app.settings import get_settings
    from engine.errors import FlowwrightError

    try:
        return open_cache(get_settings())
    except ValidationError as exc:
        problems = "; ".join(f"FLOWWRIGHT_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}")
    except FlowwrightError as exc:
        fail(f"{exc.code}: {exc.message}")


def stats(as_json: JsonOpt = False) -> None:
    """Entries, hits, misses, hit rate, re-bound hits and tokens saved (counted across processes)."""
    cache = _open()
    data = {**cache.stats().to_dict(), "threshold": cache.threshold, "ttl_s": cache.ttl_s,
            "embedding_model": cache.embedder.model_name, "path": str(cache.path)}
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        console.print(f"[cyan]{key.replace('_', ' ')}[/]: {value}")


def clear(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete every cached answer and reset the counters."""
    if not yes and not typer.confirm("Delete every cached model answer?", default=False):
        raise typer.Exit(1)
    deleted = _open().clear()
    if as_json:
        print_json({"deleted": deleted})
    else:
        console.print(f"cleared the semantic cache ({deleted} entries)")


def purge(as_json: JsonOpt = False) -> None:
    """Delete expired answers (lookups already ignore them)."""
    deleted = _open().purge_expired()
    if as_json:
        print_json({"deleted": deleted})
    else:
        console.print(f"purged {deleted} expired entries")
