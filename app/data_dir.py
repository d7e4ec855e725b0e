"""The data dir is private to the user who runs Flowwright: the folder 0700, its files 0600.

It holds the database (workflows, step outputs, credential ciphertexts, key hashes), the master
key, the first admin key and the semantic cache. ``secure`` makes the folder and tightens what is
already in it (a data dir made by an older release was world-readable: 0755 and 0644);
``create_private`` creates a file as 0600 before a library opens it (SQLite copies the database
file's mode to its ``-wal`` and ``-shm`` files). ``flowwright serve`` and ``flowwright worker`` also
run with umask 077, so what they create later (the cache's files) is private too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SERVICE_UMASK = 0o077


def secure(data_dir: Path) -> Path:
    """Create ``data_dir`` (0700) or tighten it and everything in it to 0700/0600; files owned by
    someone else are left as they are."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(data_dir, DIR_MODE)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            _tighten(Path(root, name), DIR_MODE)
        for name in files:
            _tighten(Path(root, name), FILE_MODE)
    return data_dir


def create_private(path: Path) -> None:
    """Create ``path`` as an empty 0600 file unless it exists (then make it 0600)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours, or gone meanwhile: leave it
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            return
        if stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
