"""Loads versioned prompt templates and few-shot examples — prompts are data, never code strings.

A template is a Markdown file in ``prompts/templates/`` with YAML front matter (``name``,
``version``, ``description``, ``variables``) and a Jinja2 body, rendered in a sandbox with
``StrictUndefined`` (a missing variable is an error, not an empty string). Several files may carry
the same name; ``load(name)`` picks the highest version, ``load(name, version)`` an exact one.
Examples are JSON Lines files in ``prompts/examples/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from engine.errors import FlowwrightError

PROMPTS_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PROMPTS_DIR / "templates"
EXAMPLES_DIR = PROMPTS_DIR / "examples"


class PromptError(FlowwrightError):
    """A template is missing, malformed, or cannot be rendered."""

    code = "prompt_error"
    status = 500


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    body: str
    description: str = ""
    variables: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def ref(self) -> tuple[str, str]:
        """``(name, version)``, as the gateway's ``template=`` argument and usage rows want it."""
        return self.name, self.version

    def render(self, **variables: Any) -> str:
        try:
            return str(_compile(self.body).render(**variables)).strip() + "\n"
        except Exception as exc:  # jinja2's UndefinedError, TemplateSyntaxError, SecurityError...
            raise PromptError(f"prompt {self.name}@{self.version}: {exc}", template=self.name) from exc


@lru_cache(maxsize=64)
def _compile(body: str) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               keep_trailing_newline=True, autoescape=False)
    return env.from_string(body)


def parse_template(text: str, path: Path | None = None) -> PromptTemplate:
    """A template from the text of a file: ``---`` YAML front matter ``---`` then the body."""
    where = str(path) if path else "<text>"
    if not text.startswith("---"):
        raise PromptError(f"{where}: a prompt template starts with YAML front matter ('---')")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise PromptError(f"{where}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict) or not meta.get("name") or meta.get("version") is None:
        raise PromptError(f"{where}: front matter needs 'name' and 'version'")
    return PromptTemplate(
        name=str(meta["name"]), version=str(meta["version"]), body=body.lstrip("\n"),
        description=str(meta.get("description", "")), variables=tuple(meta.get("variables") or ()), path=path,
    )


@lru_cache(maxsize=1)
def _all_templates() -> dict[str, dict[str, PromptTemplate]]:
    found: dict[str, dict[str, PromptTemplate]] = {}
    for path in sorted(TEMPLATES_DIR.glob("*.md")):
        template = parse_template(path.read_text(encoding="utf-8"), path)
        versions = found.setdefault(template.name, {})
        if template.version in versions:
            raise PromptError(f"{path}: {template.name}@{template.version} is defined twice")
        versions[template.version] = template
    return found


def _version_key(version: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (version,)


def load(name: str, version: str | int | None = None) -> PromptTemplate:
    """The template ``name`` at ``version`` (default: its highest version)."""
    versions = _all_templates().get(name)
    if not versions:
        raise PromptError(f"no prompt template named {name!r}", template=name)
    if version is None:
        return versions[max(versions, key=_version_key)]
    try:
        return versions[str(version)]
    except KeyError:
        raise PromptError(f"prompt template {name!r} has no version {version!r} (has {sorted(versions)})",
                          template=name) from None


def available() -> list[PromptTemplate]:
    """Every template, every version."""
    return [t for versions in _all_templates().values() for t in versions.values()]


@lru_cache(maxsize=8)
def load_examples(name: str) -> tuple[dict[str, Any], ...]:
    """The few-shot examples in ``prompts/examples/<name>.jsonl`` (one JSON object a line)."""
    path = EXAMPLES_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise PromptError(f"no examples file {path.name}", examples=name)
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise PromptError(f"{path.name}:{number}: not valid JSON: {exc.msg}") from None
    return tuple(out)


__all__ = ["PromptError", "PromptTemplate", "available", "load", "load_examples", "parse_template"]
