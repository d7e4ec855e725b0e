"""The copilot's response model: compiling plans into format v1, going back, applying edits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.copilot.plan import (
    ActionStep,
    AddStep,
    AiStep,
    ChangeTrigger,
    ConditionStep,
    CopilotResponse,
    DelayStep,
    EditPlan,
    LoopStep,
    MergeStep,
    PlanInvalidError,
    Question,
    RemoveStep,
    Rename,
    SwitchCaseSpec,
    SwitchStep,
    TriggerSpec,
    UpdateStep,
    WorkflowPlan,
    apply_edits,
    compile_plan,
    load_plan,
    plan_from_workflow,
    response_schema,
)
from connectors.registry import default_registry
from engine.validation import validate_workflow

REGISTRY = default_registry(plugins=False)


def log(step_id: str, message: str = "hi", **kw: Any) -> ActionStep:
    return ActionStep(id=step_id, connector="core", operation="log", config={"message": message}, **kw)


def valid(plan: WorkflowPlan) -> dict[str, Any]:
    workflow = compile_plan(plan, REGISTRY)
    result = validate_workflow(workflow, REGISTRY)
    assert result.ok, [p.to_dict() for p in result.problems]
    return workflow


def edges(graph: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(e["source"], e["target"], e.get("branch")) for e in graph["edges"]}


def node(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in graph["nodes"] if n["id"] == node_id)


def canonical(workflow: dict[str, Any]) -> str:
    def fix(graph: dict[str, Any]) -> None:
        graph["edges"] = sorted(graph["edges"], key=lambda e: json.dumps(e, sort_keys=True))
        for n in graph["nodes"]:
            if "body" in n:
                fix(n["body"])

    copy = json.loads(json.dumps(workflow))
    fix(copy)
    return json.dumps(copy, sort_keys=True)


def test_linear_plan_chains_steps_after_the_trigger() -> None:
    plan = WorkflowPlan(name="Hello", trigger=TriggerSpec(kind="schedule", cron="0 9 * * 1-5", timezone="Asia/Tokyo"),
                        steps=[log("first"), log("second")])
    wf = valid(plan)
    assert wf["nodes"][0] == {"id": "trigger", "type": "trigger", "kind": "schedule",
                              "config": {"cron": "0 9 * * 1-5", "timezone": "Asia/Tokyo"}}
    assert edges(wf) == {("trigger", "first", None), ("first", "second", None)}


def test_condition_branches_and_rejoin_get_a_merge() -> None:
    plan = WorkflowPlan(name="Branchy", steps=[
        ConditionStep(id="big", expression="trigger.amount > 100"),
        log("yes", branch="true"),
        log("no", branch="false"),
        log("after_both", after=["yes", "no"]),
    ])
    wf = valid(plan)
    assert ("big", "yes", "true") in edges(wf)
    assert ("big", "no", "false") in edges(wf)  # follows the condition, not the 'yes' step
    merge = node(wf, "merge_before_after_both")
    assert merge["type"] == "merge" and merge["origin"] == "generated"
    assert {("yes", merge["id"], None), ("no", merge["id"], None), (merge["id"], "after_both", None)} <= edges(wf)


def test_explicit_merge_step_takes_several_inputs_without_another_merge() -> None:
    plan = WorkflowPlan(name="Parallel", trigger=TriggerSpec(kind="manual"), steps=[
        log("fetch_a", after=["trigger"]),
        log("fetch_b", after=["trigger"]),
        MergeStep(id="combine", after=["fetch_a", "fetch_b"]),
        log("report"),
    ])
    wf = valid(plan)
    assert [n["id"] for n in wf["nodes"] if n["type"] == "merge"] == ["combine"]
    assert edges(wf) == {("trigger", "fetch_a", None), ("trigger", "fetch_b", None), ("fetch_a", "combine", None),
                         ("fetch_b", "combine", None), ("combine", "report", None)}


def test_switch_routes_by_case_name() -> None:
    plan = WorkflowPlan(name="Route", trigger=TriggerSpec(kind="webhook", fields=["priority"]), steps=[
        SwitchStep(id="by_priority", value="trigger.body.priority",
                   cases=[SwitchCaseSpec(name="urgent", equals="urgent"), SwitchCaseSpec(name="high", equals="high")]),
        log("page", branch="urgent"),
        log("ticket", branch="high"),
        log("backlog", branch="default"),
    ])
    wf = valid(plan)
    assert {("by_priority", "page", "urgent"), ("by_priority", "ticket", "high"),
            ("by_priority", "backlog", "default")} <= edges(wf)
    trigger = wf["nodes"][0]
    assert trigger["config"]["method"] == "POST"
    assert trigger["config"]["input_schema"]["required"] == ["priority"]


def test_loop_body_is_nested_and_flat_steps_after_it_follow_the_loop() -> None:
    plan = WorkflowPlan(name="Loop", steps=[
        ActionStep(id="load", connector="core", operation="set", config={"values": {"rows": [1, 2, 3]}}),
        LoopStep(id="each_row", items="{{ nodes.load.rows }}", batch_size=10, max_concurrency=2),
        log("inside", "{{ $string(item) }}", in_loop="each_row"),
        DelayStep(id="pause", seconds=5, in_loop="each_row"),
        log("after_loop"),
    ])
    wf = valid(plan)
    loop = node(wf, "each_row")
    assert loop["config"] == {"items": "{{ nodes.load.rows }}", "max_concurrency": 2, "batch_size": 10}
    assert [n["id"] for n in loop["body"]["nodes"]] == ["inside", "pause"]
    assert edges(loop["body"]) == {("inside", "pause", None)}
    assert node(loop["body"], "pause")["operation"] == "delay"
    assert ("each_row", "after_loop", None) in edges(wf)
    assert not any(n["id"] == "inside" for n in wf["nodes"])


def test_retry_and_failure_route_compile_to_retry_policy_and_error_edge() -> None:
    plan = WorkflowPlan(name="Retry", steps=[
        log("call", max_attempts=5, retry_delay_s=2, on_failure="tell_ops"),
        log("next_step"),
        log("tell_ops", "it failed"),
        log("optional", on_failure="continue"),
    ])
    wf = valid(plan)
    call = node(wf, "call")
    assert call["retry"] == {"max_attempts": 5, "backoff": "exponential", "initial_delay_s": 2}
    assert call["on_error"] == "route"
    assert ("call", "tell_ops", "error") in edges(wf)
    # the handler is only on the error path, and the main path skips it
    assert not any(t == "tell_ops" and b is None for _, t, b in edges(wf))
    assert ("next_step", "optional", None) in edges(wf)
    assert node(wf, "optional")["on_error"] == "continue"


def test_ai_step_uses_llm_connector_field_names() -> None:
    plan = WorkflowPlan(name="AI", steps=[
        AiStep(id="triage", task="classify", input="{{ trigger.body.text }}", labels=["bug", "question"]),
    ])
    wf = compile_plan(plan, REGISTRY)
    triage = node(wf, "triage")
    assert (triage["connector"], triage["operation"]) == ("llm", "classify")
    assert triage["config"]["labels"] == ["bug", "question"]
    if REGISTRY.get("llm") is not None:
        assert validate_workflow(wf, REGISTRY).ok


def test_invalid_ids_are_slugged() -> None:
    wf = valid(WorkflowPlan(name="Slug", steps=[log("Fetch Sales!"), log("2nd", after=["Fetch Sales!"])]))
    assert [n["id"] for n in wf["nodes"]] == ["trigger", "fetch_sales", "s_2nd"]


@pytest.mark.parametrize(("steps", "code"), [
    ([log("a"), log("a")], "plan_duplicate_id"),
    ([log("a", in_loop="nope")], "plan_unknown_loop"),
    ([LoopStep(id="each", items="{{ [1] }}"), log("inner", in_loop="each"), log("out", after=["inner"])],
     "plan_cross_level"),
    ([log("a", on_failure="ghost")], "plan_unknown_step"),
])
def test_structural_mistakes_raise_plan_invalid(steps: list[Any], code: str) -> None:
    with pytest.raises(PlanInvalidError) as info:
        compile_plan(WorkflowPlan(name="Bad", steps=steps))
    assert info.value.code == "plan_invalid"
    assert code in {p.code for p in info.value.problems}


def test_dangling_reference_is_left_to_validation() -> None:
    wf = compile_plan(WorkflowPlan(name="Dangling", steps=[log("a", after=["missing"])]))
    codes = {p.code for p in validate_workflow(wf, REGISTRY).problems}
    assert "dangling_edge" in codes


def complex_plan() -> WorkflowPlan:
    return WorkflowPlan(
        name="Digest", description="A digest",
        trigger=TriggerSpec(kind="schedule", id="every_monday", cron="0 9 * * 1", timezone="Europe/Berlin"),
        steps=[
            ActionStep(id="fetch", connector="core", operation="set", config={"values": {"rows": [1]}},
                       max_attempts=3, on_failure="alert"),
            ConditionStep(id="big", expression="$count(nodes.fetch.rows) > 0"),
            LoopStep(id="each", items="{{ nodes.fetch.rows }}", branch="true"),
            log("say", in_loop="each"),
            log("small", branch="false"),
            log("done", after=["each", "small"]),
            log("alert", "failed"),
        ])


def test_round_trip_through_plan_from_workflow_is_exact() -> None:
    wf = valid(complex_plan())
    again = compile_plan(plan_from_workflow(wf), REGISTRY)
    assert canonical(again) == canonical(wf)


def test_plan_from_workflow_drops_inserted_guardrails_and_joins_edges() -> None:
    wf = valid(complex_plan())
    wf["nodes"].insert(2, {"id": "check_input", "type": "guardrail", "kind": "schema", "origin": "guardrail",
                           "config": {}})
    wf["edges"] = [e for e in wf["edges"] if not (e["source"] == "fetch" and e["target"] == "big")]
    wf["edges"] += [{"source": "fetch", "target": "check_input"}, {"source": "check_input", "target": "big"}]
    plan = plan_from_workflow(wf)
    assert "check_input" not in {s.id for s in plan.steps}
    assert next(s for s in plan.steps if s.id == "big").after == ["fetch"]


def test_edits_change_only_what_they_name() -> None:
    plan = WorkflowPlan(name="Report", trigger=TriggerSpec(kind="schedule", cron="0 9 * * 1", timezone="Europe/Paris"),
                        steps=[ActionStep(id="send", connector="core", operation="set",
                                          config={"values": {"to": ["alice@example.com"]}}),
                               log("notify", "sent")])
    before = valid(plan)
    edit = EditPlan(edits=[
        ChangeTrigger(trigger=TriggerSpec(kind="schedule", cron="0 9 * * 5")),
        UpdateStep(id="notify", config={"message": "sent!"}),
        AddStep(step=log("also_log", "extra")),
        Rename(name="Friday report"),
    ])
    after = valid(apply_edits(plan, edit))
    assert after["name"] == "Friday report"
    assert after["nodes"][0]["config"] == {"cron": "0 9 * * 5", "timezone": "Europe/Paris"}
    assert node(after, "send") == node(before, "send")
    assert node(after, "notify")["config"] == {"message": "sent!"}
    assert ("notify", "also_log", None) in edges(after)


def test_append_adds_a_recipient_without_duplicates() -> None:
    plan = WorkflowPlan(name="Mail", steps=[ActionStep(id="mail", connector="core", operation="log",
                                                       config={"message": "x", "to": ["a@example.com"]})])
    edited = apply_edits(plan, EditPlan(edits=[UpdateStep(id="mail", append={"to": ["b@example.com", "a@example.com"]})]))
    assert edited.steps[0].config["to"] == ["a@example.com", "b@example.com"]


def test_remove_step_reconnects_followers_and_loop_bodies() -> None:
    plan = plan_from_workflow(valid(complex_plan()))
    edited = apply_edits(plan, EditPlan(edits=[RemoveStep(id="big"), RemoveStep(id="each")]))
    wf = valid(WorkflowPlan.model_validate(edited.model_dump()))
    ids = {n["id"] for n in wf["nodes"]}
    assert "say" not in ids and "each" not in ids and "big" not in ids
    assert ("fetch", "small", None) in edges(wf)


def test_add_step_before_an_existing_step() -> None:
    plan = WorkflowPlan(name="Ins", steps=[log("a"), log("b")])
    wf = valid(apply_edits(plan, EditPlan(edits=[AddStep(step=DelayStep(id="wait", seconds=60), before="b")])))
    assert edges(wf) == {("trigger", "a", None), ("a", "wait", None), ("wait", "b", None)}


def test_edit_naming_an_unknown_step_is_an_error() -> None:
    plan = WorkflowPlan(name="X", steps=[log("a")])
    with pytest.raises(PlanInvalidError):
        apply_edits(plan, EditPlan(edits=[RemoveStep(id="ghost")]))


def test_change_trigger_kind_replaces_the_trigger() -> None:
    plan = WorkflowPlan(name="X", trigger=TriggerSpec(kind="schedule", cron="0 9 * * *"), steps=[log("a")])
    edited = apply_edits(plan, EditPlan(edits=[ChangeTrigger(trigger=TriggerSpec(kind="webhook"))]))
    assert valid(edited)["nodes"][0] == {"id": "trigger", "type": "trigger", "kind": "webhook",
                                         "config": {"method": "POST"}}


def test_response_model_parses_each_reply_kind_and_has_a_schema() -> None:
    q = CopilotResponse.model_validate({"reply": {"kind": "question", "question": "Which channel?",
                                                  "missing": ["slack channel"]}})
    assert isinstance(q.reply, Question)
    w = CopilotResponse.model_validate_json(json.dumps({"reply": {
        "kind": "workflow", "name": "W", "steps": [
            {"type": "action", "id": "a", "connector": "core", "operation": "log", "config": {"message": "m"}},
            {"type": "delay", "id": "w", "seconds": 3}]}}))
    assert isinstance(w.reply, WorkflowPlan) and isinstance(w.reply.steps[1], DelayStep)
    e = CopilotResponse.model_validate({"reply": {"kind": "edit", "edits": [{"op": "remove_step", "id": "a"}]}})
    assert isinstance(e.reply, EditPlan)
    schema = response_schema()
    assert schema["title"] == "CopilotResponse"
    assert "origin" not in json.dumps(schema["$defs"]["ActionStep"])


def test_fields_survive_a_json_round_trip_with_sorted_properties() -> None:
    plan = WorkflowPlan(name="Hook", trigger=TriggerSpec(kind="webhook", fields=["order_id", "email", "amount"]),
                        steps=[log("a")])
    wf = json.loads(json.dumps(compile_plan(plan, REGISTRY), sort_keys=True))
    assert plan_from_workflow(wf).trigger.fields == ["order_id", "email", "amount"]


def test_load_plan_restores_defaulted_discriminators() -> None:
    plan = WorkflowPlan(name="X", steps=[log("a"), ConditionStep(id="c", expression="true"),
                                         LoopStep(id="l", items="{{ [1] }}"), log("b", in_loop="l"), DelayStep(id="d", seconds=1)])
    dumped = plan.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    assert "type" not in dumped["steps"][0] and "kind" not in dumped
    from app.copilot.plan import load_plan

    assert load_plan(dumped) == load_plan(json.dumps(dumped)) == WorkflowPlan.model_validate(plan.model_dump())


def test_removing_every_step_is_a_plan_error() -> None:
    plan = WorkflowPlan(name="X", steps=[log("a")])
    with pytest.raises(PlanInvalidError) as info:
        apply_edits(plan, EditPlan(edits=[RemoveStep(id="a")]))
    assert info.value.problems[0].path == "$.steps"


def test_add_step_before_a_loop_body_step_joins_the_body() -> None:
    plan = WorkflowPlan(name="Loop", steps=[LoopStep(id="each", items="{{ [1, 2] }}"), log("inner", in_loop="each")])
    wf = valid(apply_edits(plan, EditPlan(edits=[AddStep(step=DelayStep(id="pause", seconds=5), before="inner")])))
    body = node(wf, "each")["body"]
    assert [n["id"] for n in body["nodes"]] == ["pause", "inner"]
    assert edges(body) == {("pause", "inner", None)}


def polling_plan(**loop: Any) -> WorkflowPlan:
    """Start an export, then check it every minute until it is ready (at most 20 times)."""
    return WorkflowPlan(name="Export", steps=[
        ActionStep(id="start_export", connector="http", operation="request",
                   config={"method": "POST", "url": "https://api.example.com/exports"}),
        LoopStep.model_validate({"id": "until_ready", "while": "previous.check_export.body.status != 'ready'",
                                 "max_iterations": 20, "delay_s": 60, **loop}),
        ActionStep(id="check_export", in_loop="until_ready", connector="http", operation="request",
                   config={"method": "GET", "url": "https://api.example.com/exports/1"}),
        log("done", "{{ nodes.until_ready }}"),
    ])


def test_a_while_loop_compiles_to_the_formats_while_config() -> None:
    wf = valid(polling_plan(output="last", on_max_iterations="stop"))
    loop = node(wf, "until_ready")
    assert loop["config"] == {"while": "previous.check_export.body.status != 'ready'", "max_concurrency": 1,
                              "max_iterations": 20, "delay_s": 60, "output": "last", "on_max_iterations": "stop"}
    assert [n["id"] for n in loop["body"]["nodes"]] == ["check_export"]
    assert ("until_ready", "done", None) in edges(wf)


@pytest.mark.parametrize("options", [{}, {"output": "last"}, {"on_max_iterations": "stop", "output": "list"}])
def test_a_while_loop_survives_a_plan_round_trip(options: dict[str, Any]) -> None:
    wf = valid(polling_plan(**options))
    plan = plan_from_workflow(wf)
    loop = next(s for s in plan.steps if s.id == "until_ready")
    assert isinstance(loop, LoopStep) and loop.items is None
    assert (loop.while_, loop.max_iterations, loop.delay_s) == ("previous.check_export.body.status != 'ready'", 20, 60)
    assert canonical(compile_plan(plan, REGISTRY)) == canonical(wf)
    # the JSON a model reads back (the current plan) spells it "while", and loads again
    dumped = plan.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    assert "while" in dumped["steps"][1] and "while_" not in dumped["steps"][1]
    assert canonical(compile_plan(load_plan(dumped), REGISTRY)) == canonical(wf)


def test_edits_keep_a_while_loop_and_can_change_it() -> None:
    plan = plan_from_workflow(valid(polling_plan()))
    edited = valid(apply_edits(plan, EditPlan(edits=[
        AddStep(step=ActionStep(id="tell_ops", connector="core", operation="log", config={"message": "ready"})),
        UpdateStep(id="until_ready", changes={"max_iterations": 30}),
    ])))
    assert node(edited, "until_ready")["config"] == {
        "while": "previous.check_export.body.status != 'ready'", "max_concurrency": 1, "max_iterations": 30,
        "delay_s": 60}
    again = valid(apply_edits(plan, EditPlan(edits=[
        UpdateStep(id="until_ready", changes={"while": "previous.check_export.body.status = 'pending'"}),
        UpdateStep(id="until_ready", config={"delay_s": None}),  # a merge patch: null removes it
    ])))
    assert node(again, "until_ready")["config"] == {
        "while": "previous.check_export.body.status = 'pending'", "max_concurrency": 1, "max_iterations": 20}


def test_a_for_each_loop_gets_no_while_options() -> None:
    plan = WorkflowPlan(name="Each", steps=[
        LoopStep(id="each", items="{{ [1, 2] }}", max_concurrency=2), log("say", "{{ $string(item) }}", in_loop="each")])
    wf = valid(plan)
    assert node(wf, "each")["config"] == {"items": "{{ [1, 2] }}", "max_concurrency": 2}
    assert canonical(compile_plan(plan_from_workflow(wf), REGISTRY)) == canonical(wf)


def test_a_loop_mixing_items_and_while_is_refused_by_validation_with_its_path() -> None:
    plan = polling_plan(items="{{ [1] }}")
    result = validate_workflow(compile_plan(plan, REGISTRY), REGISTRY)
    assert not result.ok
    assert any(p.path.startswith("$.nodes[2].config") for p in result.problems), [p.to_dict() for p in result.problems]
