"""Workflow validation: every problem at once, each with a stable code and a JSON path.

The checks run on the raw JSON as well as on the parsed models, so a document with schema errors
still gets its graph problems reported, and no input — however mangled — makes the validator
raise. Codes are a public contract (clients and the copilot's re-ask loop read them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from engine.content_filter import compile_pattern
from engine.errors import Problem, WorkflowInvalidError
from engine.expressions import ExpressionSyntaxError, compile_expression, iter_strings, templates_in
from engine.json_depth import MAX_DOCUMENT_DEPTH, MAX_LOOP_NESTING, loop_too_deep, too_deep
from engine.output_fields import output_field_problems
from engine.schedules import cron_problem, suggest_timezone, timezone_problem
from engine.workflow import NODE_ID_PATTERN, Workflow

POLL_NODE_FIELDS = ("connector", "operation", "credential")
POLL_CONFIG_FIELDS = ("interval_s", "per", "max_items", "start", "input")
NODE_TYPES = ("trigger", "action", "condition", "switch", "loop", "merge", "guardrail")
CONDITION_BRANCHES = ("true", "false")


class OperationSpec(Protocol):
    """What validation reads of an operation."""

    @property
    def input_model(self) -> type[BaseModel]: ...

    @property
    def output_model(self) -> type[BaseModel]: ...  # read by the output-field rule (``engine.output_fields``)


class Catalog(Protocol):
    """What validation needs from the connector registry."""

    def get(self, name: str) -> Any: ...
    def operation(self, connector: str, operation: str) -> OperationSpec | None: ...
    def suggest_connector(self, name: str) -> str | None: ...
    def suggest_operation(self, connector: str, operation: str) -> str | None: ...


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)
    workflow: Workflow | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> Workflow:
        if self.problems or self.workflow is None:
            raise WorkflowInvalidError(self.problems)
        return self.workflow


def validate_workflow(data: Any, catalog: Catalog | None = None) -> ValidationResult:
    """Validate a workflow document (parsed JSON). Never raises on bad input."""
    result = ValidationResult()
    if not isinstance(data, dict):
        result.problems.append(Problem("schema.type", "$", "a workflow must be a JSON object"))
        return result
    if nesting := nesting_problem(data):  # the other rules (and pydantic) would walk all of it
        result.problems.append(nesting)
        return result
    try:
        result.workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        result.problems.extend(_schema_problems(exc, "$"))
    checker = _GraphChecker(catalog)
    try:
        checker.check_graph(data, "$", top_level=True)
        checker.check_references(data)
    except Exception as exc:  # defensive: a bug in one rule must not hide the others' findings
        checker.problems.append(Problem("internal", "$", f"validator error: {type(exc).__name__}: {exc}"))
    try:
        checker.problems.extend(output_field_problems(data, catalog))
    except Exception as exc:  # same: the data-flow rules are independent of the graph rules
        checker.problems.append(Problem("internal", "$", f"validator error: {type(exc).__name__}: {exc}"))
    seen = {(p.code, p.path, p.message) for p in result.problems}
    for problem in checker.problems:
        if (problem.code, problem.path, problem.message) not in seen:
            result.problems.append(problem)
            seen.add((problem.code, problem.path, problem.message))
    if result.problems:
        result.workflow = None
    return result


def parse_workflow(data: Any, catalog: Catalog | None = None) -> Workflow:
    """Validate and return the model, or raise ``WorkflowInvalidError`` listing every problem."""
    return validate_workflow(data, catalog).raise_for_problems()


def nesting_problem(data: dict[str, Any]) -> Problem | None:
    """The problem with a document that nests loops or JSON too deep to be handled, or ``None``."""
    if found := loop_too_deep(data):
        path, depth = found
        return Problem("loop_too_deep", path, f"loops nest {depth} deep here; at most {MAX_LOOP_NESTING} loops "
                       "may nest inside each other", hint="split the inner loops into a workflow of their own")
    if deep := too_deep(data, MAX_DOCUMENT_DEPTH):
        return Problem("too_deep", deep, f"the document nests objects and arrays more than "
                       f"{MAX_DOCUMENT_DEPTH} levels deep here")
    return None


# --- schema errors --------------------------------------------------------------------------


def format_loc(loc: Iterable[Any], prefix: str = "$") -> str:
    """Turn a pydantic error location into a JSON path, dropping union tags (``action``...)."""
    path = prefix
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(previous, int) and part in NODE_TYPES:
            pass  # discriminated-union tag
        elif isinstance(part, str) and (part.startswith("function-") or part.startswith("tagged-union")):
            pass
        else:
            path += f".{part}"
        previous = part
    return path


def _schema_problems(exc: ValidationError, prefix: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        etype = err.get("type", "invalid")
        msg = err.get("msg", "invalid value")
        if etype in ("union_tag_invalid", "union_tag_not_found"):
            msg = f"node 'type' must be one of {', '.join(NODE_TYPES)}"
        problems.append(Problem(f"schema.{etype}", format_loc(err.get("loc", ()), prefix), msg))
    return problems


# --- graph rules ----------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _GraphChecker:
    def __init__(self, catalog: Catalog | None) -> None:
        self.catalog = catalog
        self.problems: list[Problem] = []
        self._successors: dict[str, list[dict[str, Any]]] = {}  # node path -> nodes its plain edges lead to

    def add(self, code: str, path: str, message: str, hint: str | None = None, **extra: Any) -> None:
        self.problems.append(Problem(code, path, message, hint, extra))

    def check_graph(self, graph: dict[str, Any], path: str, *, top_level: bool) -> None:
        nodes = _as_list(graph.get("nodes"))
        edges = _as_list(graph.get("edges"))
        if not top_level and not nodes:
            self.add("empty_body", f"{path}.nodes", "a loop body needs at least one node")
        by_id: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, node in enumerate(nodes):
            if not isinstance(node, dict):
                continue
            node_id = node.get("id")
            if not isinstance(node_id, str):
                continue
            if node_id in by_id:
                first = by_id[node_id][0]
                self.add("duplicate_id", f"{path}.nodes[{i}].id",
                         f"node id {node_id!r} is already used by {path}.nodes[{first}]", node_id=node_id)
            else:
                by_id[node_id] = (i, node)
        self._check_triggers(nodes, path, top_level)
        valid_edges = self._check_edges(edges, by_id, path)
        self._check_cycles(valid_edges, path)
        self._check_reachability(nodes, valid_edges, by_id, path, top_level)
        self._check_error_routes(nodes, valid_edges, path)
        for _k, source, target, branch in valid_edges:  # what each node's plain edges lead to
            if branch is None and target in by_id:
                self._successors.setdefault(f"{path}.nodes[{by_id[source][0]}]", []).append(by_id[target][1])
        for i, node in enumerate(nodes):
            if isinstance(node, dict):
                self._check_node(node, f"{path}.nodes[{i}]")

    def _check_triggers(self, nodes: list[Any], path: str, top_level: bool) -> None:
        triggers = [i for i, n in enumerate(nodes) if isinstance(n, dict) and n.get("type") == "trigger"]
        if top_level:
            if not triggers:
                self.add("trigger_missing", f"{path}.nodes", "a workflow needs exactly one trigger node, found none")
            for i in triggers[1:]:
                self.add("trigger_multiple", f"{path}.nodes[{i}]",
                         f"a workflow needs exactly one trigger node, found {len(triggers)}")
        else:
            for i in triggers:
                self.add("trigger_in_body", f"{path}.nodes[{i}]", "a loop body cannot contain a trigger")

    def _check_edges(
        self, edges: list[Any], by_id: dict[str, tuple[int, dict[str, Any]]], path: str
    ) -> list[tuple[int, str, str, str | None]]:
        valid: list[tuple[int, str, str, str | None]] = []
        seen: set[tuple[str, str, Any]] = set()
        for j, edge in enumerate(edges):
            if not isinstance(edge, dict):
                continue
            source, target, branch = edge.get("source"), edge.get("target"), edge.get("branch")
            ok = True
            for end, value in (("source", source), ("target", target)):
                if isinstance(value, str) and value not in by_id:
                    ok = False
                    self.add("dangling_edge", f"{path}.edges[{j}].{end}",
                             f"edge {end} {value!r} is not a node in this graph")
                elif not isinstance(value, str):
                    ok = False
            if not ok:
                continue
            assert isinstance(source, str) and isinstance(target, str)
            if (source, target, branch) in seen:
                self.add("duplicate_edge", f"{path}.edges[{j}]", f"edge {source} → {target} appears twice")
            seen.add((source, target, branch))
            target_node = by_id[target][1]
            if target_node.get("type") == "trigger":
                self.add("trigger_has_incoming", f"{path}.edges[{j}].target",
                         f"a trigger cannot have incoming edges ({source} → {target})")
            self._check_branch(by_id[source][1], branch, f"{path}.edges[{j}]")
            valid.append((j, source, target, branch if isinstance(branch, str) else None))
        return valid

    def _check_branch(self, source: dict[str, Any], branch: Any, path: str) -> None:
        stype = source.get("type")
        sid = source.get("id")
        if branch is not None and not isinstance(branch, str):
            return  # reported as a schema error
        if branch == "error":
            if source.get("on_error") != "route":
                self.add("invalid_branch", f"{path}.branch",
                         f"an 'error' edge needs its source {sid!r} to have on_error: route")
            return
        if stype == "condition":
            if branch not in CONDITION_BRANCHES:
                self.add("invalid_branch", f"{path}.branch",
                         f"edges from condition {sid!r} need branch 'true' or 'false', got {branch!r}")
        elif stype == "switch":
            cases = _as_list((source.get("config") or {}).get("cases") if isinstance(source.get("config"), dict) else None)
            names = [c.get("name") for c in cases if isinstance(c, dict)]
            allowed = [*names, "default"]
            if branch not in allowed:
                self.add("invalid_branch", f"{path}.branch",
                         f"edges from switch {sid!r} need branch one of {allowed}, got {branch!r}")
        elif branch is not None:
            self.add("invalid_branch", f"{path}.branch",
                     f"a {stype} node ({sid!r}) has no branch {branch!r}; only 'error' (with on_error: route) or none")

    def _check_cycles(self, edges: list[tuple[int, str, str, str | None]], path: str) -> None:
        adjacency: dict[str, list[str]] = {}
        edge_index: dict[tuple[str, str], int] = {}
        for j, s, t, _ in edges:
            adjacency.setdefault(s, []).append(t)
            edge_index.setdefault((s, t), j)
        for component in _strongly_connected(adjacency):
            if len(component) == 1:
                node = component[0]
                if node not in adjacency.get(node, []):
                    continue
                cycle = [node, node]
            else:
                cycle = _cycle_path(component, adjacency)
            j = edge_index.get((cycle[0], cycle[1]), 0)
            self.add("cycle", f"{path}.edges[{j}]",
                     f"cycle: {' → '.join(cycle)} (loops are nested bodies, never back-edges)",
                     nodes=sorted(set(cycle)))

    def _check_reachability(
        self,
        nodes: list[Any],
        edges: list[tuple[int, str, str, str | None]],
        by_id: dict[str, tuple[int, dict[str, Any]]],
        path: str,
        top_level: bool,
    ) -> None:
        incoming = {t for _, _, t, _ in edges}
        if top_level:
            roots = [n for n, (_, node) in by_id.items() if node.get("type") == "trigger"]
            if len(roots) != 1:
                return  # reported by the trigger rule; reachability means little then
        else:
            roots = [n for n in by_id if n not in incoming]
        adjacency: dict[str, list[str]] = {}
        for _, s, t, _ in edges:
            adjacency.setdefault(s, []).append(t)
        seen = set(roots)
        stack = list(roots)
        while stack:
            for nxt in adjacency.get(stack.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        where = "the trigger" if top_level else "a start node of the loop body"
        for node_id, (i, node) in by_id.items():
            if node_id not in seen and node.get("type") != "trigger":
                self.add("unreachable", f"{path}.nodes[{i}]", f"node {node_id!r} cannot be reached from {where}")
        del nodes

    def _check_error_routes(self, nodes: list[Any], edges: list[tuple[int, str, str, str | None]], path: str) -> None:
        with_error_edge = {s for _, s, _, b in edges if b == "error"}
        for i, node in enumerate(nodes):
            if isinstance(node, dict) and node.get("on_error") == "route" and node.get("id") not in with_error_edge:
                self.add("missing_error_edge", f"{path}.nodes[{i}].on_error",
                         f"node {node.get('id')!r} has on_error: route but no edge with branch 'error'")

    # --- references between nodes --------------------------------------------------------

    def check_references(self, data: dict[str, Any]) -> None:
        """``nodes.<id>`` in an expression must name a node that runs before this one."""
        all_ids: set[str] = set()
        _collect_ids(data, all_ids)
        self._check_graph_references(data, "$", frozenset(), all_ids)

    def _check_graph_references(
        self, graph: dict[str, Any], path: str, outer: frozenset[str], all_ids: set[str]
    ) -> None:
        nodes = [n for n in _as_list(graph.get("nodes")) if isinstance(n, dict)]
        ids = {n.get("id") for n in nodes if isinstance(n.get("id"), str)}
        parents: dict[str, set[str]] = {}
        for edge in _as_list(graph.get("edges")):
            if isinstance(edge, dict) and edge.get("source") in ids and edge.get("target") in ids:
                parents.setdefault(edge["target"], set()).add(edge["source"])
        for i, node in enumerate(_as_list(graph.get("nodes"))):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                continue
            upstream = set(outer) | _ancestors(node["id"], parents)
            body = node.get("body")
            inside = _body_ids(body) if node.get("type") == "loop" else set()
            for spath, value in iter_strings(node.get("config"), f"{path}.nodes[{i}].config"):
                # a while condition runs after each iteration: it may read the body's nodes too
                visible = upstream | inside if spath.endswith(".config.while") else upstream
                for ref in _node_references(value):
                    if ref not in all_ids:
                        self.add("unknown_reference", spath, f"expression refers to nodes.{ref}, which does not exist",
                                 node_id=node["id"], reference=ref)
                    elif ref not in visible:
                        self.add("reference_not_upstream", spath,
                                 f"expression refers to nodes.{ref}, which does not run before {node['id']!r}",
                                 "add an edge so that it runs first", node_id=node["id"], reference=ref)
            if node.get("type") == "loop" and isinstance(body, dict):
                self._check_graph_references(body, f"{path}.nodes[{i}].body", frozenset(upstream), all_ids)

    # --- per node ---------------------------------------------------------------------------

    def _check_node(self, node: dict[str, Any], path: str) -> None:
        ntype = node.get("type")
        config = node.get("config")
        config = config if isinstance(config, dict) else {}
        if ntype == "trigger":
            self._check_trigger(node, config, path)
        elif ntype == "action":
            self._check_action(node, config, path)
        elif ntype == "condition":
            self._check_bare(config.get("expression"), f"{path}.config.expression")
        elif ntype == "switch":
            self._check_switch(config, path)
        elif ntype == "loop":
            self._check_loop(node, config, path)
        elif ntype == "guardrail":
            for spath, value in iter_strings(config, f"{path}.config"):
                self._check_templates(value, spath)
            if node.get("kind") == "content_filter":
                self._check_filter_patterns(config.get("patterns"), f"{path}.config.patterns")
        if ntype in NODE_TYPES and ntype not in ("loop", "guardrail", "action"):
            for spath, value in iter_strings(config, f"{path}.config"):
                if "{{" in value:
                    self._check_templates(value, spath)

    def _check_filter_patterns(self, patterns: Any, path: str) -> None:
        for i, pattern in enumerate(patterns if isinstance(patterns, list) else []):
            if isinstance(pattern, str):
                try:
                    compile_pattern(pattern)
                except ValueError as exc:
                    self.add("pattern_invalid", f"{path}[{i}]", str(exc))

    def _check_switch(self, config: dict[str, Any], path: str) -> None:
        self._check_bare(config.get("value"), f"{path}.config.value")
        names = [c.get("name") for c in _as_list(config.get("cases")) if isinstance(c, dict)]
        for k, name in enumerate(names):
            if name in names[:k]:
                self.add("duplicate_case", f"{path}.config.cases[{k}].name", f"case name {name!r} is used twice")
            if name == "default":
                self.add("reserved_case", f"{path}.config.cases[{k}].name",
                         "'default' is reserved for the fallback branch")

    def _check_loop(self, node: dict[str, Any], config: dict[str, Any], path: str) -> None:
        items = config.get("items")
        if isinstance(items, str):
            if "{{" in items:
                self._check_templates(items, f"{path}.config.items")
            else:
                self._check_bare(items, f"{path}.config.items")
        self._check_bare(config.get("while"), f"{path}.config.while")
        body = node.get("body")
        if isinstance(body, dict):
            self.check_graph(body, f"{path}.body", top_level=False)
            if "while" in config and node.get("id") in _body_ids(body):
                self.add("duplicate_id", f"{path}.body", f"a while-loop's body cannot reuse the loop's id "
                         f"{node.get('id')!r} (its waits are recorded under that id)", node_id=node.get("id"))

    def _check_trigger(self, node: dict[str, Any], config: dict[str, Any], path: str) -> None:
        kind = node.get("kind")
        cron, tz, at = config.get("cron"), config.get("timezone"), config.get("at")
        if kind == "schedule":
            if cron is None and at is None:
                self.add("schedule_missing", f"{path}.config",
                         "a schedule trigger needs 'cron' (repeating) or 'at' (one run)")
            if cron is not None and at is not None:
                self.add("schedule_ambiguous", f"{path}.config", "give 'cron' or 'at', not both")
        elif kind in ("manual", "webhook"):
            for key in ("cron", "at"):
                if config.get(key) is not None:
                    self.add("config_not_applicable", f"{path}.config.{key}", f"'{key}' applies to schedule triggers only")
        if kind != "webhook" and config.get("signing") is not None:
            self.add("config_not_applicable", f"{path}.config.signing", "'signing' applies to webhook triggers only")
        if kind == "poll":
            self._check_poll(node, config, path)
        else:
            self._check_not_poll(node, config, path)
        if isinstance(cron, str):
            why = cron_problem(cron)
            if why:
                self.add("invalid_cron", f"{path}.config.cron", f"{why}: {cron!r}")
        if isinstance(tz, str):
            why = timezone_problem(tz)
            if why:
                suggestion = suggest_timezone(tz)
                self.add("invalid_timezone", f"{path}.config.timezone", why,
                         f"did you mean {suggestion!r}?" if suggestion else "use an IANA name like 'Europe/Berlin'")
        if isinstance(at, str):
            try:
                datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                self.add("invalid_datetime", f"{path}.config.at", f"not an ISO 8601 date-time: {at!r}")
        self._check_input_schema(config.get("input_schema"), path)

    def _check_not_poll(self, node: dict[str, Any], config: dict[str, Any], path: str) -> None:
        for key in POLL_NODE_FIELDS:
            if node.get(key) is not None:
                self.add("config_not_applicable", f"{path}.{key}", f"'{key}' applies to poll triggers only")
        for key in POLL_CONFIG_FIELDS:
            if config.get(key) is not None:
                self.add("config_not_applicable", f"{path}.config.{key}", f"'{key}' applies to poll triggers only")

    def _check_poll(self, node: dict[str, Any], config: dict[str, Any], path: str) -> None:
        for key in ("cron", "at", "timezone", "method", "path", "input_schema"):
            if config.get(key) is not None:
                self.add("config_not_applicable", f"{path}.config.{key}", f"'{key}' does not apply to poll triggers")
        connector, operation = node.get("connector"), node.get("operation")
        for key, value in (("connector", connector), ("operation", operation)):
            if value is None:
                self.add("poll_missing", f"{path}.{key}", f"a poll trigger needs '{key}' (e.g. database / new_rows)")
        inp = config.get("input")
        for spath, value in iter_strings(inp if isinstance(inp, dict) else {}, f"{path}.config.input"):
            if "{{" in value:
                self.add("template_not_allowed", spath, "a poll trigger's input is fixed: nothing is in scope "
                         "before the run starts (use the item in later steps as {{ trigger.<field> }})")
        if self.catalog is None or not isinstance(connector, str) or not isinstance(operation, str):
            return
        found = self.catalog.get(connector)
        if found is None:
            suggestion = self.catalog.suggest_connector(connector)
            self.add("unknown_connector", f"{path}.connector", f"unknown connector {connector!r}",
                     f"did you mean {suggestion!r}?" if suggestion else None)
            return
        triggers = {t.name: t for t in getattr(found, "triggers", ())}
        if operation not in triggers:
            names = ", ".join(sorted(triggers)) or "none"
            self.add("unknown_trigger", f"{path}.operation",
                     f"connector {connector!r} has no polling trigger {operation!r} (it has: {names})")
            return
        if inp is None or isinstance(inp, dict):
            self._check_config(triggers[operation].input_model, inp or {}, f"{path}.config.input")

    def _check_input_schema(self, schema: Any, path: str) -> None:
        if isinstance(schema, dict):
            import jsonschema

            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
                self.add("invalid_json_schema", f"{path}.config.input_schema{where}", exc.message)

    def _check_action(self, node: dict[str, Any], config: dict[str, Any], path: str) -> None:
        connector, operation = node.get("connector"), node.get("operation")
        if self.catalog is not None and isinstance(connector, str) and isinstance(operation, str):
            if self.catalog.get(connector) is None:
                suggestion = self.catalog.suggest_connector(connector)
                self.add("unknown_connector", f"{path}.connector", f"unknown connector {connector!r}",
                         f"did you mean {suggestion!r}?" if suggestion else None)
            else:
                spec = self.catalog.operation(connector, operation)
                if spec is None:
                    suggestion = self.catalog.suggest_operation(connector, operation)
                    self.add("unknown_operation", f"{path}.operation",
                             f"connector {connector!r} has no operation {operation!r}",
                             f"did you mean {suggestion!r}?" if suggestion else None)
                elif isinstance(node.get("config", {}), dict):
                    self._check_config(spec.input_model, config, f"{path}.config")
                    check = getattr(spec, "check", None)
                    successors = self._successors.get(path, [])
                    for sub, code, message in check(config, self.catalog, successors) if check is not None else ():
                        self.add(code, f"{path}.config{sub}", message)
        bare_fields = {"expression"} if connector == "core" and operation == "transform" else set()
        for spath, value in iter_strings(config, f"{path}.config"):
            if spath.removeprefix(f"{path}.config.") in bare_fields:
                self._check_bare(value, spath)
            elif "{{" in value:
                self._check_templates(value, spath)

    def _check_config(self, model: type[BaseModel], config: dict[str, Any], path: str) -> None:
        try:
            model.model_validate(config)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                value = err.get("input")
                if (isinstance(value, str) and "{{" in value) or (
                        err.get("type") == "value_error" and _has_template(value)):
                    # Resolved at run time and checked then: a template where a value is expected,
                    # or a field validator that cannot judge a list holding templates.
                    continue
                loc = err.get("loc", ())
                etype = err.get("type", "")
                if etype == "missing":
                    code, msg = "config_missing_field", f"missing required field '{loc[-1] if loc else '?'}'"
                elif etype == "extra_forbidden":
                    code, msg = "config_unknown_field", f"unknown field '{loc[-1] if loc else '?'}'"
                else:
                    code, msg = "config_invalid_value", err.get("msg", "invalid value")
                self.add(code, format_loc(loc, path), msg)

    def _check_bare(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            return
        source = value.strip()
        if source.startswith("{{") and source.endswith("}}") and source.count("{{") == 1:
            source = source[2:-2]
        try:
            compile_expression(source)
        except ExpressionSyntaxError as exc:
            self.add("expression_syntax", path, f"expression does not parse: {exc}", expression=value)

    def _check_templates(self, value: str, path: str) -> None:
        if value.count("{{") != value.count("}}"):
            self.add("expression_syntax", path, "unbalanced '{{' and '}}'", expression=value)
            return
        for source in templates_in(value):
            try:
                compile_expression(source)
            except ExpressionSyntaxError as exc:
                self.add("expression_syntax", path, f"expression {source!r} does not parse: {exc}", expression=value)


_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_NODE_REF_RE = re.compile(r"(?<![\w$.])nodes\.([a-z][a-z0-9_]*)")


def _node_references(value: str) -> list[str]:
    """Node ids an expression string refers to as ``nodes.<id>`` (string literals ignored)."""
    sources = templates_in(value) if "{{" in value else [value]
    refs: list[str] = []
    for source in sources:
        refs.extend(_NODE_REF_RE.findall(_QUOTED_RE.sub("''", source)))
    return refs


def _has_template(value: Any) -> bool:
    """True when a value is, or holds somewhere inside, a ``{{ }}`` template string."""
    return any("{{" in text for _, text in iter_strings(value, "$"))


def _collect_ids(graph: Any, out: set[str]) -> None:
    if not isinstance(graph, dict):
        return
    for node in _as_list(graph.get("nodes")):
        if isinstance(node, dict):
            if isinstance(node.get("id"), str):
                out.add(node["id"])
            _collect_ids(node.get("body"), out)


def _body_ids(body: Any) -> set[str]:
    ids: set[str] = set()
    _collect_ids(body, ids)
    return ids


def _ancestors(node_id: str, parents: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def _strongly_connected(adjacency: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (deep graphs must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    nodes = set(adjacency) | {t for ts in adjacency.values() for t in ts}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            successors = adjacency.get(node, [])
            if pos < len(successors):
                work.append((node, pos + 1))
                nxt = successors[pos]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_path(component: list[str], adjacency: dict[str, list[str]]) -> list[str]:
    """The shortest cycle through the component's first node, as a closed node list (BFS)."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in adjacency.get(node, []):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if nxt in members and nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start, start]


__all__ = ["NODE_ID_PATTERN", "Catalog", "ValidationResult", "format_loc", "parse_workflow", "validate_workflow"]
