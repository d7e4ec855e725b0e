"""Eval datasets: JSONL files of cases, one split per folder (``datasets/dev``, ``datasets/heldout``).

A single-turn case has ``prompt``, ``reference`` (a format-v1 workflow, or null when the right
answer is a question) and ``expect``; a multi-turn case has ``turns``, each with ``message``,
``reference`` and ``expect``. See ``datasets/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evals.expectations import Expect

DATASETS_DIR = Path(__file__).parent / "datasets"
DATASET_VERSION = 1
SPLITS = ("dev", "heldout")


class DatasetError(ValueError):
    """A dataset file is missing or malformed (the message names the file and line)."""

    code = "eval_dataset_invalid"


class TurnSpec(BaseModel):
    """One user message and what the answer to it must be."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1)
    reference: dict[str, Any] | None = None
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _question_xor_reference(self) -> TurnSpec:
        if self.expect.question == (self.reference is not None):
            raise ValueError("a turn has a reference workflow exactly when it does not expect a question")
        return self


class Case(BaseModel):
    """A single-turn (``prompt``) or multi-turn (``turns``) eval case."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: int = Field(ge=1)
    category: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    prompt: str | None = None
    reference: dict[str, Any] | None = None
    expect: Expect | None = None
    turns: list[TurnSpec] | None = Field(None, min_length=2, max_length=5)

    @model_validator(mode="after")
    def _one_shape(self) -> Case:
        if (self.prompt is None) == (self.turns is None):
            raise ValueError("a case has either 'prompt' (single turn) or 'turns' (multi-turn)")
        if self.turns is not None and (self.reference is not None or self.expect is not None):
            raise ValueError("a multi-turn case keeps 'reference' and 'expect' inside each turn")
        if self.prompt is not None:
            TurnSpec(message=self.prompt, reference=self.reference, expect=self.expect or Expect())
        return self

    @property
    def multi_turn(self) -> bool:
        return self.turns is not None

    @property
    def about_guardrails(self) -> bool:
        """Guardrail cases score guardrail nodes in F1 (others ignore what the passes insert)."""
        return self.category.startswith("guardrail")

    def all_turns(self) -> list[TurnSpec]:
        if self.turns is not None:
            return self.turns
        assert self.prompt is not None
        return [TurnSpec(message=self.prompt, reference=self.reference, expect=self.expect or Expect())]


class Dataset(BaseModel):
    name: str
    split: str
    cases: list[Case]

    @property
    def version(self) -> int:
        return max((c.version for c in self.cases), default=DATASET_VERSION)


def dataset_files(name: str, split: str, root: Path = DATASETS_DIR) -> list[Path]:
    """The files a dataset name stands for: ``all`` (every file of the split), a file stem, or a path."""
    candidate = Path(name)
    if candidate.suffix == ".jsonl":
        if not candidate.is_file():
            raise DatasetError(f"{name}: no such dataset file")
        return [candidate]
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    folder = root / split
    files = sorted(folder.glob("*.jsonl")) if name == "all" else [folder / f"{name}.jsonl"]
    files = [f for f in files if f.is_file()]
    if not files:
        known = sorted(p.stem for p in folder.glob("*.jsonl"))
        raise DatasetError(f"no dataset {name!r} in split {split!r} (known: all, {', '.join(known)})")
    return files


def load_cases(path: Path) -> list[Case]:
    """Parse one JSONL file, failing with the file and line of the first bad case."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(Case.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()[:3]
            raise DatasetError(f"{path}:{number}: {' '.join(first)}") from None
    return cases


def load_dataset(name: str = "all", split: str = "dev", root: Path = DATASETS_DIR) -> Dataset:
    """Load a dataset split; case ids must be unique across its files."""
    cases: list[Case] = []
    seen: set[str] = set()
    for path in dataset_files(name, split, root):
        for case in load_cases(path):
            if case.id in seen:
                raise DatasetError(f"{path}: case id {case.id!r} appears twice")
            seen.add(case.id)
            cases.append(case)
    label = Path(name).stem if name.endswith(".jsonl") else name
    return Dataset(name=label, split=split, cases=cases)
