"""The llm-node tasks of the local model: classify, extract, summarize, complete.

* classify — the label whose MiniLM embedding is closest to the text's (labels are also matched
  literally first: a text that names a label gets it);
* extract — regular expressions for the usual fields (email, phone, amount, date, URL, name,
  order/invoice numbers) and ``field: value`` lines for any other field;
* summarize — extractive: the sentences closest to the text's centroid, in their original order,
  cut to the word budget;
* complete — a clearly labelled, deterministic answer (this is not a language model).

Requests arrive as chat messages whose first system message starts with
``[flowwright:task=<name>]``; answers are plain text, or JSON when a response schema is given.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from app.copilot.nlu.entities import EMAIL_RE, URL_RE

LOCAL_NOTE = "[local model]"
_PHONE_RE = re.compile(r"(?<!\w)(?:\+?\d[\d ()./-]{6,}\d)(?!\w)")
_AMOUNT_RE = re.compile(r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|dollars|euros))", re.I)
_DATE_RE = re.compile(r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:,\s*\d{4})?)\b", re.I)
_NUMBER_ID_RE = r"#?\s*([A-Z0-9][A-Z0-9-]{2,})"


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _user_text(messages: list[dict[str, Any]]) -> str:
    users = [text_of(m) for m in messages if m.get("role") == "user"]
    text = users[-1] if users else ""
    return re.sub(r"^\s*(?:text|input|document|content)\s*:\s*", "", text, flags=re.I)


def _system_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(text_of(m) for m in messages if m.get("role") == "system")


# --- schema helpers -------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def _default_for(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    for key in ("anyOf", "oneOf"):
        if key in schema and schema[key]:
            return _default_for(schema[key][0], root)
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}, "null": None}.get(
        str(kind), None)


def fill_schema(schema: dict[str, Any] | None, values: dict[str, Any]) -> str:
    """JSON for ``schema`` with ``values`` where their names fit, defaults for other required fields."""
    if not schema:
        return json.dumps(values)
    props = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name, sub in props.items():
        if name in values:
            out[name] = values[name]
        elif name in (schema.get("required") or []):
            out[name] = _default_for(sub, schema)
    if not props:
        out = dict(values)
    return json.dumps(out, ensure_ascii=False)


def _enum_labels(schema: dict[str, Any] | None) -> list[str]:
    if not schema:
        return []
    for sub in (schema.get("properties") or {}).values():
        sub = _resolve(sub, schema)
        if isinstance(sub.get("enum"), list):
            return [str(v) for v in sub["enum"]]
    return []


def _listed(text: str, word: str) -> list[str]:
    m = re.search(rf"\b{word}\s*:\s*(.+)", text, re.I)
    if not m:
        return []
    value = m.group(1).strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value[: value.rindex("]") + 1])
            return [str(v) for v in parsed]
        except (ValueError, json.JSONDecodeError):
            pass
    if value.startswith("{"):
        try:
            decoded, _ = json.JSONDecoder().raw_decode(value)
            return [str(k) for k in decoded]
        except json.JSONDecodeError:
            pass
    return [v.strip(" .\"'") for v in re.split(r"\s*(?:,|\||/|\bor\b)\s*", value.splitlines()[0]) if v.strip(" .\"'")]


# --- the tasks ------------------------------------------------------------------------------


def classify(text: str, labels: list[str], embedder: Any) -> str:
    """The label a text names literally, else the one closest in meaning."""
    if not labels:
        return ""
    lower = text.lower()
    named = [label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", lower)]
    if len(named) == 1:
        return named[0]
    if embedder is None:
        return named[0] if named else labels[0]
    vectors = embedder.embed([text[:2000], *labels])
    scores = vectors[1:] @ vectors[0]
    return labels[int(np.argmax(scores))]


def extract(text: str, fields: list[str]) -> dict[str, Any]:
    """A value (or None) for each field, found by pattern or by a 'field: value' line."""
    out: dict[str, Any] = {}
    for name in fields:
        key = name.lower()
        value: Any = None
        if m := re.search(rf"\b{re.escape(key).replace('_', '[ _-]?')}\s*[:=]\s*(.+)", text, re.I):
            value = m.group(1).strip().splitlines()[0].strip(" ,;")
        elif "email" in key:
            value = next(iter(EMAIL_RE.findall(text)), None)
        elif "phone" in key or "mobile" in key:
            value = next(iter(_PHONE_RE.findall(text)), None)
        elif any(w in key for w in ("amount", "total", "price", "cost")):
            value = next(iter(_AMOUNT_RE.findall(text)), None)
        elif "date" in key or "when" in key:
            value = next(iter(_DATE_RE.findall(text)), None)
        elif "url" in key or "link" in key or "website" in key:
            value = next(iter(URL_RE.findall(text)), None)
        elif any(w in key for w in ("number", "id", "order", "invoice", "reference")):
            if m := re.search(r"\b(?:order|invoice|ticket|reference|ref|id|number|no\.?)\s*(?:number|no\.?|id)?\s*[:#]?\s*" + _NUMBER_ID_RE, text, re.I):
                value = m.group(1)
        elif "name" in key:
            if m := re.search(r"\b(?:my name is|i am|i'm|this is|name\s*[:=])\s*([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)", text):
                value = m.group(1)
            elif m := re.search(r"\n\s*(?:--\s*\n\s*|(?:best|regards|thanks|cheers),?\s*\n\s*)([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\s*$", text):
                value = m.group(1)
        out[name] = value
    return out


def summarize(text: str, max_words: int, embedder: Any) -> str:
    """The sentences most central to the text, in order, within ``max_words`` words."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip().split()) >= 3]
    if not sentences:
        words = text.split()
        return " ".join(words[:max_words])
    if len(sentences) > 1 and embedder is not None:
        vectors = embedder.embed(sentences[:200])
        centroid = vectors.mean(axis=0)
        ranked = sorted(range(len(vectors)), key=lambda i: -float(vectors[i] @ centroid))
    else:
        ranked = list(range(len(sentences)))
    chosen: list[int] = []
    count = 0
    for i in ranked:
        n = len(sentences[i].split())
        if count + n > max_words and chosen:
            continue
        chosen.append(i)
        count += n
        if count >= max_words:
            break
    summary = " ".join(sentences[i] for i in sorted(chosen))
    words = summary.split()
    return " ".join(words[:max_words]) if len(words) > max_words else summary


def complete(prompt: str) -> str:
    first = re.sub(r"\s+", " ", prompt).strip()
    return f"{LOCAL_NOTE} This answer comes from Flowwright's offline model, which does not write free text. Request: {first[:300]}"


def run_task(task: str, messages: list[dict[str, Any]], schema: dict[str, Any] | None, embedder: Any) -> str:
    """Answer one llm-node task; JSON when ``schema`` is given, plain text otherwise."""
    system = _system_text(messages)
    text = _user_text(messages)
    if task == "classify":
        labels = _enum_labels(schema) or _listed(system, "labels") or _listed(text, "labels")
        text = re.split(r"\n\s*labels\s*:", text, flags=re.I)[0]
        label = classify(text, labels, embedder)
        return fill_schema(schema, {"label": label}) if schema else label
    if task == "extract":
        fields = list((schema or {}).get("properties") or {})
        nested = None
        if fields == ["data"] or (len(fields) == 1 and "data" in fields):
            nested = _resolve((schema or {})["properties"]["data"], schema or {})
            fields = list(nested.get("properties") or {})
        fields = fields or _listed(system, "fields") or _listed(text, "fields")
        values = extract(re.split(r"\n\s*fields\s*:", text, flags=re.I)[0], fields)
        if nested is not None:
            return json.dumps({"data": values}, ensure_ascii=False)
        return fill_schema(schema, values) if schema else json.dumps(values, ensure_ascii=False)
    if task == "summarize":
        m = re.search(r"(\d+)\s+words", system) or re.search(r"(\d+)\s+words", text)
        summary = summarize(text, int(m.group(1)) if m else 100, embedder)
        return fill_schema(schema, {"summary": summary, "text": summary}) if schema else summary
    answer = complete(text)
    return fill_schema(schema, {"text": answer, "answer": answer, "completion": answer}) if schema else answer
