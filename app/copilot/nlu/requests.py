"""Configs for the data operations: HTTP requests, SQL, the datastore, and core steps.

HTTP: method (explicit, or POST for sending verbs), URL (``{field}`` placeholders become webhook
expressions), headers ("with the header X-Team set to growth", "the token in the Authorization
header"), query parameters ("city=Oslo and units=metric"), JSON bodies (inline JSON, "JSON with
subject and description", or the data at hand). SQL: the statement the request spells out, its
``:name`` parameters bound to webhook fields, and the database credential it names ("on main_db").
Datastore: table, rows (the payload's named fields, the loop item or the data at hand), key
field ("keyed by email"), filters ("whose status is 'overdue'", "older than 30 days").
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.copilot.nlu.actions import MissingValue
from app.copilot.nlu.conditions import DataRef, has_data
from app.copilot.nlu.entities import Protected, snake, tables

_METHOD_RE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)(?:ing|s)?\b")
_DB_NAME_RE = re.compile(r"\b(?:on|in|from|query|against|to|using)\s+(?:our\s+|the\s+)?([a-z][a-z0-9_]*_(?:db|database|dwh|warehouse))\b"
                         r"|\b(?:on|in|from|query|against|to|using)\s+(?:our\s+|the\s+)?([a-z][a-z0-9_]*)\s+(?:database|db)\b"
                         r"|\b([a-z][a-z0-9_]*_db)\b", re.I)


def _json_value(p: Protected, clause: str) -> Any:
    for match in re.finditer(r"⟦(\d+)⟧", clause):
        kind, value = p.values[int(match.group(1))]
        if kind == "json":
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return None
    return None


def _data_expr(data: DataRef, ai_text: str | None) -> str | None:
    if ai_text:
        return ai_text
    if not has_data(data):
        return None
    return data.expr


def _field_value(name: str, data: DataRef, fields: list[str]) -> str:
    base = "item" if data.expr == "item" else ("trigger.body" if data.expr.startswith("trigger.body") else data.expr)
    if fields and name not in fields and data.expr.startswith("trigger"):
        close = next((f for f in fields if f in name or name in f), None)
        if close:
            name = close
    return f"{{{{ {base}.{name} }}}}"


def _loose_field(value: Any, data: DataRef, fields: list[str]) -> Any:
    """'{{ title }}' (a bare name from a loosely typed object) → the data's field of that name."""
    bare = re.fullmatch(r"\{\{\s*([a-z_]\w*)\s*\}\}", value) if isinstance(value, str) else None
    return _field_value(bare.group(1), data, fields) if bare else value


def _url_template(url: str, data: DataRef) -> str:
    """'https://x/payments/{payment_id}' → '.../{{ trigger.body.payment_id }}'."""
    base = "item" if data.expr == "item" else "trigger.body"
    # '{payment_id}' and '{{payment_id}}' (a bare name, not yet an expression) both name a field of the data
    return re.sub(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}(?!\})|(?<!\{)\{([a-z_][a-z0-9_]*)\}(?!\})",
                  lambda m: f"{{{{ {base}.{m.group(1) or m.group(2)} }}}}" if (m.group(1) or m.group(2)) not in ("item", "trigger", "nodes")
                  else m.group(0), url)


def http_config(clause: str, p: Protected, data: DataRef, fields: list[str], ai_text: str | None) -> dict[str, Any]:
    restored = p.restore(clause)
    lower = clause.lower()
    urls = p.in_text(clause, "url")
    if not urls:
        url_field = next((f for f in fields if re.search(r"(?:^|_)(?:url|link|endpoint|href)$", f)), None)
        if url_field is None and (named := re.search(r"\b([a-z]+_(?:url|link|endpoint|href))\b", lower)):
            url_field = named.group(1)  # "download the page_url": a field of the incoming data
        if data.expr == "item" and re.search(r"\b(?:the|its|each|that)\s+(?:url|link|site|page|address)\b", lower):
            urls = ["{{ item.url }}"]
        elif url_field and data.expr.startswith("trigger") and re.search(
                rf"\b(?:the|that|this|its|their|given|submitted|received)\s+(?:url|link|address|endpoint|page|{re.escape(url_field)})\b|\b{re.escape(url_field)}\b",
                lower):
            urls = [f"{{{{ trigger.body.{url_field} }}}}"]  # "when a webhook arrives (url), fetch that url"
        else:
            noun = re.sub(r"^\w+\s+", "", re.sub(r"⟦\d+⟧", "", restored)).strip()
            raise MissingValue(f"Which URL should I call to {restored.split()[0].lower()} {noun}?".replace("  ", " "), ["url"])
    explicit = _METHOD_RE.search(re.sub(r"⟦\d+⟧", "", clause))
    if explicit:
        method = explicit.group(1)
    elif re.search(r"\b(post|send|submit|push|create|forward|notify|upload|report|sync|issue|trigger|start)\b", lower) and not re.search(
            r"\b(fetch|get|pull|download|read|load|retrieve|grab|check|look up)\b", lower):
        method = "POST"
    else:
        method = "GET"
    values: dict[str, Any] = {"method": method, "url": _url_template(urls[0], data)}
    headers: dict[str, str] = {}
    for m in re.finditer(r"\bheaders?\s+([A-Za-z][\w-]*)\s*(?:set\s+to|=|:|as)\s*['\"]?([\w./:-]+)", restored, re.I):
        headers[m.group(1)] = m.group(2)
    if auth := re.search(r"\b(?:that|the|this)\s+(?:token|key|api key)\s+(?:in|as)\s+(?:the\s+)?([A-Za-z][\w-]*)\s+header\b", restored, re.I):
        token = _data_expr(data, ai_text)
        headers[auth.group(1)] = f"Bearer {{{{ {token}.token }}}}" if token else "Bearer {{ vars.token }}"
    if headers:
        values["headers"] = headers
    query = dict(re.findall(r"\b([a-z_][\w]*)=([\w.-]+)", re.sub(r"⟦\d+⟧", "", restored), re.I))
    if query and re.search(r"\bquery|param", lower):
        values["query"] = query
    if method in ("POST", "PUT", "PATCH"):
        inline = _json_value(p, clause)
        named = re.search(r"\bjson\s+(?:object\s+)?(?:with|containing)\s+(?:the\s+)?([a-z_]\w*(?:\s*,\s*[a-z_]\w*)*(?:\s*,?\s*and\s+[a-z_]\w*)?)", lower)
        listed = re.search(r"\bwith\s+(?:the\s+|its\s+|their\s+)?([a-z][\w ]*?(?:\s*,\s*[a-z][\w ]*?)*\s+and\s+(?:the\s+)?[a-z][\w ]*?)\s*(?:$|[,.;]|\bas\b)",
                           re.sub(r"⟦\d+⟧", "", restored).lower())
        listed_fields = [snake(x) for x in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+(?:the\s+)?", listed.group(1))] if listed else []
        if isinstance(inline, dict):
            # '{"order_id": ..., "address": ...}' typed loosely: a bare name is a field of the data
            values["json"] = {k: _loose_field(v, data, fields) for k, v in inline.items()}
        elif inline is not None:
            values["json"] = inline
        elif listed_fields and fields and all(f in fields for f in listed_fields):
            values["json"] = {f: _field_value(f, data, fields) for f in listed_fields}
        elif named:
            keys = [snake(k) for k in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", named.group(1)) if k.strip()]
            values["json"] = {k: _field_value(k, data, fields) for k in keys}
        elif ai_text:
            values["json"] = {"text": f"{{{{ {ai_text} }}}}"}
        elif (expr := _data_expr(data, None)) is not None:
            values["json"] = f"{{{{ {expr} }}}}"
    return values


def database_config(key: str, clause: str, p: Protected, data: DataRef, fields: list[str]) -> dict[str, Any]:
    restored = p.restore(clause)
    sql = next(iter(p.in_text(clause, "sql")), None) or next(
        (q for q in p.in_text(clause, "quoted") if re.match(r"^\s*(select|insert|update|delete|with)\b", q, re.I)), None)
    if sql is None:
        found = tables(restored)
        if key == "database.query" and found:
            sql = f"SELECT * FROM {found[0]}"
        else:
            raise MissingValue("Which SQL statement should I run on the database?", ["sql"])
    values: dict[str, Any] = {"sql": sql}
    params = re.findall(r"(?<!:):([a-z_][a-z0-9_]*)", sql)
    if params:
        values["params"] = {name: _field_value(name, data, fields) for name in dict.fromkeys(params)}
    return values


def database_credential(clause: str, p: Protected) -> str | None:
    text = re.sub(r"⟦\d+⟧", " ", clause)
    if m := _DB_NAME_RE.search(text):
        name = next(g for g in m.groups() if g)
        if name.lower() not in ("our", "the", "a", "my", "sql", "main"):
            return name
    del p
    return None


def _rows(data: DataRef, fields: list[str], clause: str) -> Any:
    if data.expr == "item":
        return "{{ [item] }}"
    if data.expr in ("trigger.body", "trigger") and fields and has_data(data):
        row = {f: f"{{{{ {data.expr}.{f} }}}}" for f in fields}
        if data.operation == "llm.classify" and data.source and re.search(r"\b(category|label|class|classification|sentiment|type)\b",
                                                                           clause, re.I):
            row["category"] = f"{{{{ nodes.{data.source}.{data.label_field or 'label'} }}}}"
        return [row]
    if data.expr == "trigger.body":
        return "{{ [trigger.body] }}"
    if not has_data(data):
        return [{"created_at": "{{ $now() }}"}]
    if data.expr == "trigger":
        return "{{ [trigger] }}"
    if data.operation in ("http.request", "database.query", "datastore.query", "merge") or data.expr.endswith((".rows", ".body")):
        return f"{{{{ $type({data.expr}) = 'array' ? {data.expr} : [{data.expr}] }}}}"
    return f"{{{{ [{data.expr}] }}}}"


def datastore_config(key: str, clause: str, p: Protected, data: DataRef, fields: list[str]) -> dict[str, Any]:
    restored = p.restore(clause)
    lower = restored.lower()
    found = tables(restored)
    if not found:
        noun = re.sub(r"⟦\d+⟧", "", restored.split(" ", 1)[-1])
        raise MissingValue(f"Which table should I use to {restored.split()[0].lower()} {noun}?".replace("  ", " "), ["table name"])
    table = snake(found[-1] if key in ("datastore.insert", "datastore.upsert") and len(found) > 1 else found[0], 60)
    values: dict[str, Any] = {"table": table}
    if key in ("datastore.insert", "datastore.upsert"):
        inline = _json_value(p, clause)
        if isinstance(inline, dict) or (isinstance(inline, list) and inline and all(isinstance(r, dict) for r in inline)):
            values["rows"] = [inline] if isinstance(inline, dict) else inline  # 'upsert the row {"id": 1, ...}'
        else:
            values["rows"] = _rows(data, fields, clause)
        m = re.search(r"\b(?:keyed|unique|deduplicated|matched)\s+(?:by|on)\s+(?:the\s+|their\s+|its\s+)?([a-z_]\w*)"
                      r"|\bkey(?:\s+field)?\s+(?:is\s+|=\s*)?([a-z_]\w*)", lower)
        if m:
            values["key_field"] = m.group(1) or m.group(2)
        elif key == "datastore.upsert":
            values["key_field"] = next((f for f in fields if f.endswith("id")), "id")
    if key in ("datastore.query", "datastore.delete"):
        where: dict[str, Any] = {}
        for m in re.finditer(r"\b(?:whose|where|with)\s+(?:the\s+)?([a-z_]\w*)\s+(?:is|=|equals)\s+['\"]?([\w@.-]+)['\"]?", restored, re.I):
            if m.group(1).lower() not in ("subject", "text", "body"):
                raw = m.group(2)
                where[m.group(1).lower()] = {"true": True, "false": False}.get(raw.lower(), int(raw) if raw.isdigit() else raw)
        # "look up the customer by email": the row whose field matches the incoming value
        for m in re.finditer(r"\b(?:by|matching|for|with\s+(?:the\s+)?same)\s+(?:the\s+|their\s+|its\s+|that\s+|this\s+)?([a-z_]\w*)\b", lower):
            name = m.group(1)
            if name in where or name in ("it", "them", "each", "every", "all", "day", "date", "name_of"):
                continue
            if data.expr == "item" and name in {"id", "email", "name", "sku", "user_id", "customer_id", "order_id"} | set(fields):
                where[name] = f"{{{{ item.{name} }}}}"
            elif name in fields and data.expr.startswith("trigger"):
                where[name] = f"{{{{ trigger.body.{name} }}}}"
        if m := re.search(r"\bolder\s+than\s+(\d+)\s+(day|week|month|year)s?\b", lower):
            days = int(m.group(1)) * {"day": 1, "week": 7, "month": 30, "year": 365}[m.group(2)]
            where["older_than_days"] = days
        if where:
            values["where"] = where
        elif key == "datastore.delete":
            if re.search(r"\b(all|every|everything|whole|entire)\b", lower):
                values["all"] = True
            else:
                raise MissingValue(f"Which rows should I delete from the {table} table?", ["which rows to delete"])
    return values


def core_config(key: str, clause: str, p: Protected, data: DataRef) -> dict[str, Any] | None:
    restored = p.restore(clause)
    lower = restored.lower()
    if key == "core.set":
        pairs = dict(re.findall(r"\b([a-z_]\w*)\s*=\s*['\"]?([\w@.-]+)['\"]?", restored, re.I))
        for match in re.finditer(r"\b([a-z_]\w*)\s*(?:=|to|as)\s*⟦(\d+)⟧", clause, re.I):
            kind, value = p.values[int(match.group(2))]
            if kind == "quoted":
                pairs[match.group(1)] = value
        return {"values": pairs or {"note": restored}}
    if key == "core.transform":
        source = data.expr if has_data(data) else "trigger"
        if m := re.search(r"\b(sum|total|count|number|average|mean|max(?:imum)?|min(?:imum)?)\s+of\s+(?:the\s+|all\s+)?(?:(\w+)\s+)?(\w+)", lower):
            func = {"sum": "$sum", "total": "$sum", "count": "$count", "number": "$count", "average": "$average",
                    "mean": "$average"}.get(m.group(1), "$max" if m.group(1).startswith("max") else "$min")
            container, leaf = m.group(2), m.group(3)
            leaf_field = snake(leaf.rstrip("s") if leaf.endswith("s") and not leaf.endswith("ss") else leaf)
            path = f"{source}.{snake(container)}s.{leaf_field}" if container and container not in ("the", "all", "item") else (
                f"{source}.items.{leaf_field}" if container == "item" else f"{source}.{leaf_field}")
            if func == "$count":
                path = f"{source}.{snake(leaf)}" if not container else path
            return {"expression": f"{func}({path})"}
        # "keep only orders with status pending", "filter them to those over 100": a JSONata filter
        if re.search(r"\b(?:keep|filter|only keep|select)\b", lower):
            if m := re.search(r"\b(?:with|whose|where|that have|having)\s+(?:the\s+|a\s+)?([a-z_]\w*)\s+(?:is\s+|=\s*|of\s+|equal to\s+)?['\"]?([\w@.-]+)['\"]?\s*$",
                              lower):
                raw = m.group(2)
                literal = raw if re.fullmatch(r"-?\d+(?:\.\d+)?|true|false", raw) else json.dumps(raw)
                return {"expression": f"{source}[{snake(m.group(1))} = {literal}]"}
            if m := re.search(r"\b(?:(?:with\s+)?(?:an?\s+|the\s+)?([a-z_]\w*)\s+)?(over|above|more than|greater than|under|below|less than)\s+\$?([\d.,]+)", lower):
                op = "<" if m.group(2) in ("under", "below", "less than") else ">"
                field_name = m.group(1) if m.group(1) and m.group(1) not in ("those", "ones", "them", "items", "orders", "only") else "total"
                return {"expression": f"{source}[{snake(field_name)} {op} {m.group(3).replace(',', '')}]"}
        return {"expression": source}
    if key == "core.fail":
        quoted = p.in_text(clause, "quoted")
        return {"message": quoted[0] if quoted else restored}
    if key == "core.delay":
        from app.copilot.nlu.numbers import parse_duration

        duration = parse_duration(restored)
        if duration is None:
            raise MissingValue("How long should it wait (for example 10 minutes or 2 days)?", ["wait duration"])
        return {"seconds": duration[0]}
    del lower
    return None


def build(key: str, clause: str, p: Protected, data: DataRef, *, fields: list[str], ai_text: str | None) -> dict[str, Any] | None:
    """Config for ``key`` or ``None`` when this module does not handle it."""
    if key == "http.request":
        return http_config(clause, p, data, fields, ai_text)
    if key.startswith("database."):
        return database_config(key, clause, p, data, fields)
    if key.startswith("datastore."):
        return datastore_config(key, clause, p, data, fields)
    if key.startswith("core."):
        return core_config(key, clause, p, data)
    return None
