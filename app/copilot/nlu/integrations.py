"""Apps a request names that Flowwright has no connector for, and the honest reply about them.

The apps are data (``data/apps.yaml``: name, aliases, category, REST base URL, whether the app
can send webhooks). A request that names one without a built-in connector, and gives neither a
URL for it nor a webhook to receive from it, gets a reply that names the app and offers the
closest working path — never a silent mapping to another connector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from app.copilot.nlu.entities import Protected

APPS_FILE = Path(__file__).parent / "data" / "apps.yaml"
_WEBHOOK_RE = re.compile(r"\bweb-?hooks?\b", re.IGNORECASE)


@dataclass(frozen=True)
class App:
    """One SaaS app as the planner knows it."""

    name: str
    aliases: tuple[str, ...]
    category: str
    connector: str | None = None
    api: str | None = None
    webhooks: bool = False


@dataclass(frozen=True)
class Mention:
    """An app named in a request, with the words the person used for it."""

    app: App
    written: str


@lru_cache(maxsize=1)
def apps() -> tuple[App, ...]:
    """Every app of the data file."""
    rows = yaml.safe_load(APPS_FILE.read_text(encoding="utf-8")) or []
    return tuple(App(name=r["name"], aliases=tuple(str(a).lower() for a in r.get("aliases", [])),
                     category=r.get("category", ""), connector=r.get("connector"), api=r.get("api"),
                     webhooks=bool(r.get("webhooks", False))) for r in rows)


@lru_cache(maxsize=1)
def _alias_pattern() -> tuple[re.Pattern[str], dict[str, App]]:
    table = {alias: app for app in apps() for alias in app.aliases}
    ordered = sorted(table, key=len, reverse=True)
    body = "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in ordered)
    return re.compile(rf"(?<![\w.@/-])(?:{body})(?![\w@/-]|\.\w)", re.IGNORECASE), table


def mentions(text: str) -> list[Mention]:
    """Apps named in ``text`` outside URLs, addresses and quoted values, first mention first."""
    plain = re.sub(r"⟦\d+⟧", " ", Protected.of(text).text)
    pattern, table = _alias_pattern()
    seen: dict[str, Mention] = {}
    for match in pattern.finditer(plain):
        written = re.sub(r"\s+", " ", match.group(0))
        app = table[written.lower()]
        seen.setdefault(app.name, Mention(app, written))
    return list(seen.values())


def missing(text: str) -> list[Mention]:
    """Named apps without a connector that the request gives no working path to (URL or webhook)."""
    protected = Protected.of(text)
    if any(kind == "url" for kind, _ in protected.values) or _WEBHOOK_RE.search(protected.text):
        return []
    found = [m for m in mentions(text) if m.app.connector is None]
    return [m for m in found if not (m.app.webhooks and _sends_to_us(protected.text, m.written))]


def _sends_to_us(text: str, written: str) -> bool:
    """'When Stripe sends a payment event ...': the app calls Flowwright, which a webhook trigger receives."""
    alias = re.escape(written).replace(r"\ ", r"\s+")
    if re.search(rf"\b{alias}\s+(?:sends?|posts?|pushes|pings|calls|notifies|fires|emits)\b", text, re.I):
        return True
    lead = re.match(r"\s*(?:when(?:ever)?|each time|every time|as soon as|once)\b([^,;.]*)", text, re.I)
    return lead is not None and re.search(rf"\b{alias}\b", lead.group(1), re.I) is not None


def reply(found: list[Mention]) -> str:
    """The reply naming each missing app and the closest working path for it."""
    lines = []
    for mention in found:
        app = mention.app
        named = app.name if mention.written.lower() == app.name.lower() else f"{app.name} (\"{mention.written}\")"
        paths = []
        if app.api:
            paths.append(f"call its REST API ({app.api}) with an `http` step and a stored credential "
                         f"(`flowwright credentials set {_slug(app.name)} ...`)")
        if app.webhooks:
            paths.append(f"let {app.name} send a webhook to a Flowwright webhook trigger")
        offer = " or ".join(paths) if paths else "reach it through a service that has an HTTP API"
        lines.append(f"Flowwright has no {named} connector. The closest working path: {offer}.")
    lines.append("Shall I build it that way? Give me the API URL (or say 'webhook'), or tell me what to use instead.")
    return " ".join(lines)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
