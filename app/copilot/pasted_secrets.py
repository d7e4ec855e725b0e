"""Secrets pasted into the chat: found and cut out before a message is stored, embedded, cached,
sent to a model or built into a workflow (issue 11: "secrets pasted into chat are stored in
plaintext and in the semantic cache").

What counts: provider keys by their shape (OpenAI, Anthropic, Stripe, GitHub, Slack, AWS, Google,
Flowwright's own ``fw_`` keys), JSON Web Tokens, PEM private keys, ``Bearer``/``Basic``
authorisation values, the password inside a URL (``postgres://bob:hunter2@db``), and values said
to be a password, token, API key or secret (``my password is hunter2``, ``api_key=...``). Each is
replaced by ``***``; the reply names what was removed and how to store it as a credential
instead, so the workflow refers to it by name.

Every pattern runs on RE2 (``engine.linear_regex``): a pasted message cannot make the scan take
more than time linear in its length. Words that merely mention a password ("send the password
reset link") are not secrets: a value must follow ``is``, ``:`` or ``=`` and look like one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from app.copilot.credentials import add_commands
from connectors.contract import AuthType
from engine import linear_regex

MASK = "***"


@dataclass(frozen=True)
class SecretKind:
    """One kind of secret: how the reply names it and how it would be stored as a credential."""

    kind: str
    label: str  # "an OpenAI API key"
    credential_type: AuthType
    credential_name: str  # the name the reply suggests


@dataclass(frozen=True)
class _Rule:
    secret: SecretKind
    pattern: Any  # compiled RE2; group 1, when the pattern has one, is the secret itself
    check: str = ""  # "" | "password" | "basic" | "token": a second look at the value


def _rule(kind: str, label: str, auth: AuthType, name: str, pattern: str, check: str = "") -> _Rule:
    return _Rule(SecretKind(kind, label, auth, name), linear_regex.compile(pattern), check)


_VALUE = r"""["'`]?([^\s"'`,;]{4,})"""
_SAID = r"(?:\s*[:=]|\s+(?:is|was|est|ist|es)\b\s*[:=]?)\s*"

# Order matters where shapes overlap: the first rule that claims a span names it.
RULES: tuple[_Rule, ...] = (
    _rule("private_key", "a private key", AuthType.API_KEY, "private-key",
          r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    _rule("anthropic_api_key", "an Anthropic API key", AuthType.API_KEY, "anthropic", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    _rule("openai_api_key", "an OpenAI API key", AuthType.API_KEY, "openai", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
    _rule("stripe_api_key", "a Stripe API key", AuthType.API_KEY, "stripe", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    _rule("github_token", "a GitHub token", AuthType.API_KEY, "github",
          r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    _rule("slack_token", "a Slack token", AuthType.API_KEY, "slack", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    _rule("slack_webhook", "a Slack webhook URL", AuthType.URL, "slack",
          r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{8,}"),
    _rule("aws_access_key", "an AWS access key id", AuthType.API_KEY, "aws", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    _rule("google_api_key", "a Google API key", AuthType.API_KEY, "google", r"\bAIza[0-9A-Za-z_-]{35}"),
    _rule("flowwright_api_key", "a Flowwright API key", AuthType.API_KEY, "flowwright",
          r"\bfw_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}"),
    _rule("jwt", "a JSON Web Token", AuthType.API_KEY, "token",
          r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _rule("bearer_token", "a bearer token", AuthType.API_KEY, "token",
          r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)", "token"),
    _rule("basic_auth", "a Basic authorization value (user and password)", AuthType.BASIC, "basic-auth",
          r"(?i)\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})", "basic"),
    _rule("url_password", "a password inside a URL", AuthType.URL, "connection-url",
          r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@"),
    _rule("password", "a password", AuthType.BASIC, "login",
          r"(?i)\b(?:password|passwd|passwort|pwd|passphrase|mot\s+de\s+passe|contraseña)" + _SAID + _VALUE,
          "password"),
    _rule("password", "a password", AuthType.BASIC, "login",
          r"(?i)\b(?:password|passwd|pwd|passphrase)\s+" + _VALUE, "strong"),
    _rule("api_key", "an API key or token", AuthType.API_KEY, "api-key",
          r"(?i)\b(?:api[_ -]?key|apikey|access[_ -]?token|auth[_ -]?token|bot[_ -]?token|token|secret(?:[_ -]?key)?|"
          r"client[_ -]?secret|private[_ -]?key)" + _SAID + _VALUE, "token"),
)

# Words that follow "password is" / "token:" in ordinary requests and are not the secret.
_NOT_A_VALUE = {
    "required", "missing", "wrong", "invalid", "incorrect", "expired", "empty", "stored", "saved", "reset",
    "changed", "correct", "valid", "needed", "optional", "secret", "hidden", "unknown", "none", "null", "same",
    "different", "there", "here", "below", "above", "attached", "ready", "sent", "set", "from", "with", "the",
    "in", "on", "at", "for", "and", "not", "still", "also", "being", "going", "sensitive", "long", "short",
}


@dataclass(frozen=True)
class FoundSecret:
    """A secret found in a message (never the secret itself: what it is and where it was)."""

    secret: SecretKind
    start: int
    end: int

    def offer(self, workspace_id: str) -> dict[str, Any]:
        """What the turn says about it: the kind and the commands that store it as a credential."""
        kind = self.secret
        out: dict[str, Any] = {"kind": kind.kind, "label": kind.label, "credential_type": kind.credential_type.value,
                               "suggested_name": kind.credential_name}
        if kind.kind == "flowwright_api_key":
            out["advice"] = "revoke it: flowwright api-keys revoke <id> (a pasted key is no longer secret)"
        else:
            out["add"] = add_commands(kind.credential_name, kind.credential_type, workspace_id)
        return out


@dataclass(frozen=True)
class Redacted:
    """A message with its secrets replaced by ``***``, and what was found."""

    text: str
    found: tuple[FoundSecret, ...]

    @property
    def only_secrets(self) -> bool:
        """Nothing but secrets (and punctuation) was said: there is no request left to plan."""
        return bool(self.found) and not any(ch.isalnum() for ch in self.text.replace(MASK, ""))


def find_secrets(text: str) -> list[FoundSecret]:
    """Every secret in ``text``, in order, none overlapping (the first rule that claims a span wins).

    Linear in the number of matches per rule: the spans kept so far stay sorted and disjoint, and
    each rule's matches (in order) are walked against them with one pointer."""
    kept: list[FoundSecret] = []
    for rule in RULES:
        new: list[FoundSecret] = []
        at = 0
        for match in rule.pattern.finditer(text):
            group = 1 if match.lastindex else 0
            start, end = match.span(group)
            if start < 0 or not _looks_secret(rule.check, match.group(group)):
                continue
            while at < len(kept) and kept[at].end <= start:
                at += 1
            if at < len(kept) and kept[at].start < end:
                continue  # an earlier rule claimed part of it
            new.append(FoundSecret(rule.secret, start, end))
        if new:
            kept = sorted([*kept, *new], key=lambda f: f.start)
    return kept


def redact_secrets(text: str) -> Redacted:
    """``text`` with every secret replaced by ``***`` (the rest of the message unchanged)."""
    found = find_secrets(text)
    out, at = [], 0
    for secret in found:
        out.append(text[at : secret.start])
        out.append(MASK)
        at = secret.end
    out.append(text[at:])
    return Redacted("".join(out), tuple(found))


def _looks_secret(check: str, value: str) -> bool:
    if not check:
        return True
    value = value.rstrip(".!?)")
    if value == MASK or value.startswith(("<", "{{", "$")):  # a placeholder or an expression, not a secret
        return False
    if check == "basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return ":" in decoded
    if value.lower() in _NOT_A_VALUE:
        return False
    has_other = any(not ch.isalpha() for ch in value)
    if check == "strong":  # "password Tr0ub4dor&3" said without "is": only a value no word looks like
        return len(value) >= 8 and any(ch.isalpha() for ch in value) and has_other
    if check == "token":  # keys and tokens are long and rarely plain words
        return len(value) >= 12 and (has_other or len(value) >= 24)
    return has_other or len(value) >= 8  # a password: hunter2, Tr0ub4dor&3, correcthorse


def reply(found: tuple[FoundSecret, ...], workspace_id: str) -> str:
    """The lines the assistant adds: what it removed, and how to store each as a credential."""
    lines = []
    for offer in _unique_offers(found, workspace_id):
        if "add" in offer:
            lines.append(f"Your message contained {offer['label']}: I removed it (it is not stored, cached, sent to the "
                         f"model or put into the workflow). Store it as a credential instead — `{offer['add']['cli']}` "
                         f"(or `{offer['add']['api']}`) — and steps use it by the name `{offer['suggested_name']}`.")
        else:
            lines.append(f"Your message contained {offer['label']}: I removed it; {offer['advice']}.")
    return "\n".join(lines)


def offers(found: tuple[FoundSecret, ...], workspace_id: str) -> list[dict[str, Any]]:
    """One offer per kind of secret found (pasting two Slack tokens makes one offer)."""
    return _unique_offers(found, workspace_id)


def _unique_offers(found: tuple[FoundSecret, ...], workspace_id: str) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for secret in found:
        if secret.secret.kind in seen:
            continue
        seen.add(secret.secret.kind)
        out.append(secret.offer(workspace_id))
    return out


__all__ = ["MASK", "RULES", "FoundSecret", "Redacted", "SecretKind", "find_secrets", "offers", "redact_secrets", "reply"]
