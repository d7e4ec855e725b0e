"""The CLI's container: one :class:`app.wiring.Container` per command, opened on first use and
closed by the callback that ``app/cli/main.py`` installs (commands that need no database, such as
``validate`` or ``schema``, never open one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import typer

from app.cli.output import fail

if TYPE_CHECKING:
    from app.wiring import Container


class ContainerHandle:
    """Opens the container on first use and closes it when the command ends."""

    def __init__(self) -> None:
        self._container: Container | None = None

    def get(self, *, vault: bool = True, database: bool = True, overrides: dict[str, Any] | None = None) -> Container:
        """The container (``vault=False``: without the credential vault, for dry runs;
        ``database=False``: do not open the database yet, for commands that only read the registry;
        ``overrides``: settings a command option replaces, e.g. ``--model``)."""
        if self._container is None:
            # imported here so that `flowwright --help` loads no database library
            from app.settings import get_settings
            from app.wiring import Container

            settings = get_settings()
            if overrides:
                settings = settings.model_copy(update=overrides)
            self._container = Container(settings, vault=vault)
        if database:
            try:
                self._container.db  # noqa: B018 - open it here, where a failure is reported cleanly
            except Exception as exc:  # an unreadable data dir or database: one line, no traceback
                fail(f"cannot open the data dir: {exc}")
        return self._container

    def close(self) -> None:
        """Close the container if a command opened it."""
        if self._container is not None:
            self._container.close()
            self._container = None


def open_handle(ctx: typer.Context) -> None:
    """Install the handle on the root context; it closes with the context."""
    handle = ContainerHandle()
    ctx.obj = handle
    ctx.call_on_close(handle.close)


def container(*, vault: bool = True, database: bool = True, overrides: dict[str, Any] | None = None) -> Container:
    """The running command's container (outside a CLI command: a fresh one the caller closes)."""
    ctx = click.get_current_context(silent=True)
    handle = ctx.find_root().obj if ctx is not None else None
    if not isinstance(handle, ContainerHandle):
        handle = ContainerHandle()
    return handle.get(vault=vault, database=database, overrides=overrides)
