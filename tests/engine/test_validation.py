"""One test per validation rule: each asserts the stable code and the JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.registry import default_registry
from engine.errors import WorkflowInvalidError
from engine.validation import parse_workflow, validate_workflow
from tests.engine.workflows import digest, minimal

REGISTRY = default_registry(plugins=False)


def problems(data: Any) -> set[tuple[str, str]]:
    return {(p.code, p.path) for p in validate_workflow(data, REGISTRY).problems}


def test_reference_workflow_is_valid() -> None:
    result = validate_workflow(digest(), REGISTRY)
    assert result.problems == []
    assert result.workflow is not None and result.workflow.name == "Weekly sales digest"


def test_not_an_object() -> None:
    assert problems([1, 2]) == {("schema.type", "$")}


def test_schema_errors_carry_paths_without_union_tags() -> None:
    wf = minimal()
    wf["nodes"][1]["timeout_s"] = -5
    wf["nodes"][1]["retry"] = {"max_attempts": 0}
    found = problems(wf)
    assert ("schema.greater_than", "$.nodes[1].timeout_s") in found
    assert ("schema.greater_than_equal", "$.nodes[1].retry.max_attempts") in found


def test_unknown_node_type() -> None:
    wf = minimal()
    wf["nodes"][1] = {"id": "say", "type": "widget"}
    assert ("schema.union_tag_invalid", "$.nodes[1]") in problems(wf)


def test_bad_node_id_pattern() -> None:
    wf = minimal()
    wf["nodes"][1]["id"] = "Say-Hi"
    wf["edges"][0]["target"] = "Say-Hi"
    assert ("schema.string_pattern_mismatch", "$.nodes[1].id") in problems(wf)


def test_duplicate_ids_top_level() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "say", "type": "merge"})
    assert ("duplicate_id", "$.nodes[2].id") in problems(wf)


def test_duplicate_ids_in_nested_body() -> None:
    wf = digest()
    body = wf["nodes"][3]["body"]
    body["nodes"].append(dict(body["nodes"][0]))
    assert ("duplicate_id", "$.nodes[3].body.nodes[1].id") in problems(wf)


def test_dangling_edge() -> None:
    wf = minimal()
    wf["edges"].append({"source": "say", "target": "nowhere"})
    assert ("dangling_edge", "$.edges[1].target") in problems(wf)


def test_no_trigger() -> None:
    wf = minimal()
    wf["nodes"] = wf["nodes"][1:]
    wf["edges"] = []
    assert ("trigger_missing", "$.nodes") in problems(wf)


def test_two_triggers() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "again", "type": "trigger", "kind": "manual"})
    assert ("trigger_multiple", "$.nodes[2]") in problems(wf)


def test_trigger_in_loop_body() -> None:
    wf = digest()
    wf["nodes"][3]["body"]["nodes"].append({"id": "inner_start", "type": "trigger", "kind": "manual"})
    assert ("trigger_in_body", "$.nodes[3].body.nodes[1]") in problems(wf)


def test_trigger_with_incoming_edge() -> None:
    wf = minimal()
    wf["edges"].append({"source": "say", "target": "start"})
    assert ("trigger_has_incoming", "$.edges[1].target") in problems(wf)


def test_cycle_names_its_nodes() -> None:
    wf = minimal()
    wf["nodes"] += [{"id": "a", "type": "merge"}, {"id": "b", "type": "merge"}]
    wf["edges"] += [{"source": "say", "target": "a"}, {"source": "a", "target": "b"}, {"source": "b", "target": "a"}]
    result = validate_workflow(wf, REGISTRY)
    cycles = [p for p in result.problems if p.code == "cycle"]
    assert len(cycles) == 1
    assert cycles[0].path == "$.edges[2]"
    assert "a → b → a" in cycles[0].message
    assert cycles[0].extra["nodes"] == ["a", "b"]


def test_self_loop_is_a_cycle() -> None:
    wf = minimal()
    wf["edges"].append({"source": "say", "target": "say"})
    assert ("cycle", "$.edges[1]") in problems(wf)


def test_unreachable_node() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "island", "type": "action", "connector": "core", "operation": "log",
                        "config": {"message": "alone"}})
    assert problems(wf) == {("unreachable", "$.nodes[2]")}


def test_empty_loop_body() -> None:
    wf = digest()
    wf["nodes"][3]["body"] = {"nodes": [], "edges": []}
    assert ("empty_body", "$.nodes[3].body.nodes") in problems(wf)


def test_condition_needs_true_false() -> None:
    wf = digest()
    wf["edges"][2]["branch"] = "yes"
    assert ("invalid_branch", "$.edges[2].branch") in problems(wf)
    wf["edges"][2].pop("branch")
    assert ("invalid_branch", "$.edges[2].branch") in problems(wf)


def test_switch_branches_are_case_names_or_default() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "route", "type": "switch",
                        "config": {"value": "trigger.priority", "cases": [{"name": "urgent", "equals": "P1"}]}})
    wf["nodes"].append({"id": "page", "type": "action", "connector": "core", "operation": "log",
                        "config": {"message": "page"}})
    wf["edges"] += [{"source": "start", "target": "route"}, {"source": "route", "target": "page", "branch": "urgent"},
                    {"source": "route", "target": "say", "branch": "default"}]
    assert problems(wf) == set()
    wf["edges"][2]["branch"] = "critical"
    assert problems(wf) == {("invalid_branch", "$.edges[2].branch")}


def test_duplicate_and_reserved_switch_cases() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "route", "type": "switch", "config": {"value": "trigger.p", "cases": [
        {"name": "a", "equals": 1}, {"name": "a", "equals": 2}, {"name": "default", "equals": 3}]}})
    wf["edges"].append({"source": "start", "target": "route"})
    found = problems(wf)
    assert ("duplicate_case", "$.nodes[2].config.cases[1].name") in found
    assert ("reserved_case", "$.nodes[2].config.cases[2].name") in found


def test_error_edge_needs_on_error_route() -> None:
    wf = minimal()
    wf["nodes"].append({"id": "oops", "type": "action", "connector": "core", "operation": "log",
                        "config": {"message": "failed"}})
    wf["edges"].append({"source": "say", "target": "oops", "branch": "error"})
    assert ("invalid_branch", "$.edges[1].branch") in problems(wf)
    wf["nodes"][1]["on_error"] = "route"
    assert problems(wf) == set()


def test_on_error_route_without_error_edge() -> None:
    wf = minimal()
    wf["nodes"][1]["on_error"] = "route"
    assert problems(wf) == {("missing_error_edge", "$.nodes[1].on_error")}


def test_plain_node_cannot_have_a_branch() -> None:
    wf = minimal()
    wf["edges"][0]["branch"] = "true"
    assert problems(wf) == {("invalid_branch", "$.edges[0].branch")}


def test_duplicate_edge() -> None:
    wf = minimal()
    wf["edges"].append(dict(wf["edges"][0]))
    assert ("duplicate_edge", "$.edges[1]") in problems(wf)


def test_unknown_connector_suggests_closest() -> None:
    wf = minimal()
    wf["nodes"][1]["connector"] = "cor"
    result = validate_workflow(wf, REGISTRY)
    [p] = result.problems
    assert (p.code, p.path) == ("unknown_connector", "$.nodes[1].connector")
    assert p.hint == "did you mean 'core'?"


def test_unknown_operation_suggests_closest() -> None:
    wf = minimal()
    wf["nodes"][1]["operation"] = "logg"
    [p] = validate_workflow(wf, REGISTRY).problems
    assert (p.code, p.path) == ("unknown_operation", "$.nodes[1].operation")
    assert p.hint == "did you mean 'log'?"


def test_config_missing_field() -> None:
    wf = minimal()
    wf["nodes"][1]["config"] = {}
    assert problems(wf) == {("config_missing_field", "$.nodes[1].config.message")}


def test_config_unknown_field() -> None:
    wf = minimal()
    wf["nodes"][1]["config"]["colour"] = "red"
    assert problems(wf) == {("config_unknown_field", "$.nodes[1].config.colour")}


def test_config_wrong_type() -> None:
    wf = minimal()
    wf["nodes"][1]["config"]["level"] = "loud"
    assert problems(wf) == {("config_invalid_value", "$.nodes[1].config.level")}


def test_config_template_values_are_typed_at_run_time() -> None:
    wf = minimal()
    wf["nodes"][1] = {"id": "say", "type": "action", "connector": "core", "operation": "delay",
                      "config": {"seconds": "{{ trigger.wait }}"}}
    assert problems(wf) == set()


def test_config_model_level_rule() -> None:
    wf = minimal()
    wf["nodes"][1] = {"id": "say", "type": "action", "connector": "core", "operation": "delay", "config": {}}
    assert problems(wf) == {("config_invalid_value", "$.nodes[1].config")}


def test_template_expression_does_not_parse() -> None:
    wf = minimal()
    wf["nodes"][1]["config"]["message"] = "total: {{ trigger.total + }}"
    assert problems(wf) == {("expression_syntax", "$.nodes[1].config.message")}


def test_unbalanced_braces() -> None:
    wf = minimal()
    wf["nodes"][1]["config"]["message"] = "total: {{ trigger.total"
    assert problems(wf) == {("expression_syntax", "$.nodes[1].config.message")}


def test_condition_expression_does_not_parse() -> None:
    wf = digest()
    wf["nodes"][2]["config"]["expression"] = "nodes.fetch_sales.value.total >"
    assert problems(wf) == {("expression_syntax", "$.nodes[2].config.expression")}


def test_transform_expression_is_bare_jsonata() -> None:
    wf = digest()
    wf["nodes"][1]["config"]["expression"] = "{'a': }"
    assert problems(wf) == {("expression_syntax", "$.nodes[1].config.expression")}


def test_loop_items_expression() -> None:
    wf = digest()
    wf["nodes"][3]["config"]["items"] = "{{ nodes.fetch_sales.value.regions[ }}"
    assert problems(wf) == {("expression_syntax", "$.nodes[3].config.items")}


def _while_loop(**config: Any) -> dict[str, Any]:
    wf = minimal()
    wf["schema_version"] = "1.1"
    wf["nodes"].append({"id": "poll", "type": "loop", "config": config, "body": {"nodes": [
        {"id": "check", "type": "action", "connector": "core", "operation": "transform",
         "config": {"expression": "{'status': 'ready'}"}}], "edges": []}})
    wf["edges"].append({"source": "say", "target": "poll"})
    return wf


def test_while_loop_is_valid_and_its_condition_may_read_the_body() -> None:
    wf = _while_loop(**{"while": "nodes.check.value.status != 'ready' and iteration < 5"}, max_iterations=20,
                     delay_s=60, output="last")
    assert problems(wf) == set()
    assert parse_workflow(wf, REGISTRY).to_json_dict() == wf


def test_while_loop_needs_max_iterations_and_not_items() -> None:
    assert problems(_while_loop(**{"while": "true"})) == {("schema.value_error", "$.nodes[2].config")}
    both = _while_loop(**{"while": "true", "items": "{{ [1] }}"}, max_iterations=3)
    assert problems(both) == {("schema.value_error", "$.nodes[2].config")}
    neither = _while_loop(max_concurrency=2)
    assert problems(neither) == {("schema.value_error", "$.nodes[2].config")}
    message = validate_workflow(_while_loop(**{"while": "true"}), REGISTRY).problems[0].message
    assert "max_iterations" in message


def test_while_only_fields_on_a_for_each_loop() -> None:
    wf = digest()
    wf["nodes"][3]["config"]["delay_s"] = 5
    found = validate_workflow(wf, REGISTRY).problems
    assert [(p.code, p.path) for p in found] == [("schema.value_error", "$.nodes[3].config")]
    assert "delay_s apply to while loops only" in found[0].message


def test_while_expression_and_its_references() -> None:
    bad = _while_loop(**{"while": "previous.status = "}, max_iterations=3)
    assert problems(bad) == {("expression_syntax", "$.nodes[2].config.while")}
    unknown = _while_loop(**{"while": "nodes.nowhere.ok"}, max_iterations=3)
    assert problems(unknown) == {("unknown_reference", "$.nodes[2].config.while")}


def test_while_body_cannot_reuse_the_loop_id() -> None:
    wf = _while_loop(**{"while": "true"}, max_iterations=3)
    wf["nodes"][2]["body"]["nodes"][0]["id"] = "poll"
    assert ("duplicate_id", "$.nodes[2].body") in problems(wf)


def test_invalid_cron() -> None:
    wf = digest()
    wf["nodes"][0]["config"]["cron"] = "0 25 * * 1"
    assert problems(wf) == {("invalid_cron", "$.nodes[0].config.cron")}
    wf["nodes"][0]["config"]["cron"] = "0 9 * *"
    assert problems(wf) == {("invalid_cron", "$.nodes[0].config.cron")}
    wf["nodes"][0]["config"]["cron"] = "0 0 30 2 *"  # February 30th never comes
    assert problems(wf) == {("invalid_cron", "$.nodes[0].config.cron")}


def test_invalid_timezone_suggests_closest() -> None:
    wf = digest()
    wf["nodes"][0]["config"]["timezone"] = "Europe/Berln"
    [p] = validate_workflow(wf, REGISTRY).problems
    assert (p.code, p.path) == ("invalid_timezone", "$.nodes[0].config.timezone")
    assert p.hint == "did you mean 'Europe/Berlin'?"


def test_schedule_needs_cron_or_at() -> None:
    wf = digest()
    wf["nodes"][0]["config"] = {"timezone": "UTC"}
    assert problems(wf) == {("schedule_missing", "$.nodes[0].config")}


def test_schedule_at_must_be_iso() -> None:
    wf = digest()
    wf["nodes"][0]["config"] = {"at": "next tuesday"}
    assert problems(wf) == {("invalid_datetime", "$.nodes[0].config.at")}
    wf["nodes"][0]["config"] = {"at": "2026-12-01T09:00:00Z"}
    assert problems(wf) == set()


def test_cron_on_manual_trigger_is_flagged() -> None:
    wf = minimal()
    wf["nodes"][0]["config"] = {"cron": "0 9 * * 1"}
    assert problems(wf) == {("config_not_applicable", "$.nodes[0].config.cron")}


def test_webhook_input_schema_must_be_a_json_schema() -> None:
    wf = minimal()
    wf["nodes"][0] = {"id": "start", "type": "trigger", "kind": "webhook",
                      "config": {"method": "POST", "input_schema": {"type": "object",
                                                                     "properties": {"email": {"type": "strng"}}}}}
    assert ("invalid_json_schema", "$.nodes[0].config.input_schema.properties.email.type") in problems(wf)


def test_every_problem_reported_at_once() -> None:
    wf = digest()
    wf["nodes"][0]["config"]["cron"] = "bad"
    wf["nodes"][2]["config"]["expression"] = "x >"
    wf["nodes"][4]["connector"] = "nope"
    wf["edges"].append({"source": "ghost", "target": "fetch_sales"})
    codes = {p.code for p in validate_workflow(wf, REGISTRY).problems}
    assert {"invalid_cron", "expression_syntax", "unknown_connector", "dangling_edge"} <= codes


def test_schema_and_graph_problems_together() -> None:
    wf = minimal()
    wf["nodes"][1]["timeout_s"] = "soon"
    wf["edges"].append({"source": "say", "target": "ghost"})
    codes = {p.code for p in validate_workflow(wf, REGISTRY).problems}
    assert {"schema.float_parsing", "dangling_edge"} <= codes


def test_parse_workflow_raises_with_every_problem() -> None:
    wf = minimal()
    wf["edges"].append({"source": "say", "target": "ghost"})
    wf["nodes"][1]["config"] = {}
    with pytest.raises(WorkflowInvalidError) as err:
        parse_workflow(wf, REGISTRY)
    assert {p["code"] for p in err.value.to_dict()["details"]["problems"]} == {"dangling_edge", "config_missing_field"}
    assert err.value.status == 422


def test_reference_to_unknown_node() -> None:
    wf = digest()
    wf["nodes"][4]["config"]["message"] = "{{ nodes.fetch_sale.value.summary }}"
    [p] = validate_workflow(wf, REGISTRY).problems
    assert (p.code, p.path) == ("unknown_reference", "$.nodes[4].config.message")
    assert p.extra["reference"] == "fetch_sale"


def test_reference_to_node_that_does_not_run_first() -> None:
    wf = digest()
    wf["nodes"][2]["config"]["expression"] = "nodes.send_digest.message = 'ok'"
    assert problems(wf) == {("reference_not_upstream", "$.nodes[2].config.expression")}


def test_loop_body_sees_ancestors_of_its_loop_and_string_literals_are_ignored() -> None:
    wf = digest()
    body_node = wf["nodes"][3]["body"]["nodes"][0]
    body_node["config"]["message"] = "{{ nodes.fetch_sales.value.summary & ' nodes.ghost ' & item.name }}"
    assert problems(wf) == set()
    body_node["config"]["message"] = "{{ nodes.send_digest.message }}"
    assert problems(wf) == {("reference_not_upstream", "$.nodes[3].body.nodes[0].config.message")}


def test_lists_holding_templates_are_checked_at_run_time() -> None:
    wf = minimal()
    wf["nodes"][1] = {"id": "say", "type": "action", "connector": "core", "operation": "set",
                      "config": {"values": "{{ trigger.values }}"}}
    assert problems(wf) == set()
    wf["nodes"][1]["config"] = {"values": ["{{ trigger.a }}"]}  # a list is never a mapping, template or not
    assert problems(wf) == {("config_invalid_value", "$.nodes[1].config.values")}
    wf["nodes"][1] = {"id": "say", "type": "action", "connector": "email", "operation": "send",
                      "config": {"to": ["{{ trigger.email }}"], "subject": "hi", "body": "hello"}}
    assert problems(wf) == set()


def _polling(**node: Any) -> dict[str, Any]:
    trigger = {"id": "new_order", "type": "trigger", "kind": "poll", "connector": "database", "operation": "new_rows",
               "credential": "shop", "config": {"input": {"table": "orders", "cursor_column": "id"}}}
    trigger.update(node)
    return {"schema_version": "1.1", "name": "polling", "nodes": [
        trigger, {"id": "say", "type": "action", "connector": "core", "operation": "log",
                  "config": {"message": "{{ trigger.id }}"}}],
        "edges": [{"source": "new_order", "target": "say"}]}


def test_poll_trigger_is_valid() -> None:
    assert problems(_polling()) == set()
    http = _polling(connector="http", operation="new_items",
                    config={"interval_s": 30, "per": "batch", "max_items": 50, "start": "all",
                            "input": {"url": "https://api.example.com/tickets", "items": "data", "id_field": "key"}})
    assert problems(http) == set()


def test_poll_trigger_needs_a_connector_and_a_trigger_it_has() -> None:
    assert ("poll_missing", "$.nodes[0].connector") in problems(_polling(connector=None))
    assert ("poll_missing", "$.nodes[0].operation") in problems(_polling(operation=None))
    assert ("unknown_connector", "$.nodes[0].connector") in problems(_polling(connector="databse"))
    found = validate_workflow(_polling(operation="query"), REGISTRY).problems
    assert [(p.code, p.path) for p in found] == [("unknown_trigger", "$.nodes[0].operation")]
    assert "new_rows" in found[0].message


def test_poll_trigger_input_is_checked_against_its_model() -> None:
    bad = _polling(config={"input": {"table": "orders; DROP TABLE orders", "cursor_column": "id", "where": "1=1"}})
    found = problems(bad)
    assert ("config_invalid_value", "$.nodes[0].config.input.table") in found
    assert ("config_unknown_field", "$.nodes[0].config.input.where") in found
    assert ("config_missing_field", "$.nodes[0].config.input.cursor_column") in problems(
        _polling(config={"input": {"table": "orders"}}))
    templated = _polling(config={"input": {"table": "{{ vars.table }}", "cursor_column": "id"}})
    assert ("template_not_allowed", "$.nodes[0].config.input.table") in problems(templated)


def test_poll_settings_on_other_triggers_and_schedule_settings_on_poll() -> None:
    assert ("schema.greater_than_equal", "$.nodes[0].config.interval_s") in problems(
        _polling(config={"interval_s": 0.1, "input": {"table": "t", "cursor_column": "id"}}))
    assert ("config_not_applicable", "$.nodes[0].config.cron") in problems(
        _polling(config={"cron": "0 9 * * 1", "input": {"table": "t", "cursor_column": "id"}}))
    wf = minimal()
    wf["nodes"][0].update({"connector": "database", "config": {"interval_s": 60}})
    found = problems(wf)
    assert ("config_not_applicable", "$.nodes[0].connector") in found
    assert ("config_not_applicable", "$.nodes[0].config.interval_s") in found


def _mapping(config: dict[str, Any], then: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = [{"id": "start", "type": "trigger", "kind": "manual"},
             {"id": "tidy", "type": "action", "connector": "core", "operation": "map", "config": config}]
    edges = [{"source": "start", "target": "tidy"}]
    if then is not None:
        nodes.append({"id": "next_step", "type": "action", **then})
        edges.append({"source": "tidy", "target": "next_step"})
    return {"name": "mapping", "nodes": nodes, "edges": edges}


def test_map_fields_are_checked_against_the_target_operation() -> None:
    config = {"source": "{{ trigger.rows }}", "target": "slack.post_message", "fields": {
        "channel": {"value": "#sales"}, "txt": "summary", "thread_ts": {"from": "ts", "type": "integer"}}}
    found = validate_workflow(_mapping(config), REGISTRY).problems
    assert {(p.code, p.path) for p in found} >= {
        ("map_target_field_unknown", "$.nodes[1].config.fields.txt"),
        ("map_target_type_mismatch", "$.nodes[1].config.fields.thread_ts.type"),
    }
    config["fields"]["text"] = config["fields"].pop("txt")
    config["fields"]["thread_ts"]["type"] = "string"
    assert problems(_mapping(config)) == set()
    config["target"] = "email.send"
    config["fields"] = {"to": "email", "body": "text", "cc": {"from": "copy", "type": "boolean"}}
    found = problems(_mapping(config))
    assert ("map_target_field_missing", "$.nodes[1].config.fields") in found  # subject
    assert ("map_target_type_mismatch", "$.nodes[1].config.fields.cc.type") in found
    config["fields"] = {"to": {"from": "email", "type": "string"}, "subject": {"value": "Hi"}}
    assert problems(_mapping(config)) == set()  # email.send takes one address as a string too
    config["target"] = "slack.post_messages"
    assert ("map_target_unknown", "$.nodes[1].config.target") in problems(_mapping(config))


def test_map_target_next_is_the_step_it_leads_to() -> None:
    config = {"source": "{{ trigger }}", "target": "next", "fields": {"to": "email", "subject": {"value": "Hi"},
                                                                      "bodyy": "text"}}
    then = {"connector": "email", "operation": "send", "config": {
        "to": "{{ nodes.tidy.value.to }}", "subject": "{{ nodes.tidy.value.subject }}", "body": "x"}}
    found = problems(_mapping(config, then))
    assert ("map_target_field_unknown", "$.nodes[1].config.fields.bodyy") in found
    assert ("map_target_unknown", "$.nodes[1].config.target") in problems(_mapping(config))  # no next step


def test_map_field_specs_have_json_paths() -> None:
    config = {"source": "{{ trigger }}", "fields": {"amount": {"from": "total", "type": "money"},
                                                    "both": {"from": "a", "value": 1}}}
    found = problems(_mapping(config))
    assert any(code == "config_invalid_value" and path.startswith("$.nodes[1].config.fields.amount")
               for code, path in found), found
    assert any(path.startswith("$.nodes[1].config.fields.both") for _code, path in found), found


def test_later_steps_read_only_the_fields_a_map_makes() -> None:
    config = {"source": "{{ trigger }}", "fields": {"email": "contact.email", "name": "contact.name"}}
    then = {"connector": "core", "operation": "log", "config": {"message": "{{ nodes.tidy.value.emial }}"}}
    found = validate_workflow(_mapping(config, then), REGISTRY).problems
    [problem] = [p for p in found if p.code == "unknown_output_field"]
    assert problem.path == "$.nodes[2].config.message"
    assert problem.hint == "did you mean 'email'?"
    then["config"]["message"] = "{{ nodes.tidy.value.email & nodes.tidy.count }}"
    assert problems(_mapping(config, then)) == set()
    config["keep_unmapped"] = True  # the source's other fields pass through: anything may be read
    then["config"]["message"] = "{{ nodes.tidy.value.phone }}"
    assert problems(_mapping(config, then)) == set()
