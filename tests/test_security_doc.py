"""docs/security.md: its attack table was written by bench/attack_table.py and shows every attack refused."""

from __future__ import annotations

from pathlib import Path

DOC = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")


def test_the_table_is_filled_and_every_attack_was_refused() -> None:
    from bench.attack_table import ATTACKS, END, START

    table = DOC.split(START, 1)[1].split(END, 1)[0].strip().splitlines()
    rows = table[2:]
    assert len(rows) == len(ATTACKS), "run: python bench/attack_table.py --write"
    assert all(row.endswith("| yes |") for row in rows), [r for r in rows if not r.endswith("| yes |")]
    assert "python bench/attack_table.py --write" in DOC
