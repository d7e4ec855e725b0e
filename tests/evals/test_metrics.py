"""The graph metrics on small hand-made workflows whose scores are worked out by hand."""

from __future__ import annotations

import copy

import pytest

from evals.metrics import PRF, CaseResult, TurnResult, aggregate, guardrail_hits, score_workflow


def action(node_id: str, connector: str, operation: str, **extra) -> dict:
    return {"id": node_id, "type": "action", "connector": connector, "operation": operation,
            "config": extra.pop("config", {}), **extra}


def wf(nodes: list[dict], edges: list[tuple]) -> dict:
    return {
        "schema_version": "1",
        "name": "t",
        "nodes": [{"id": "start", "type": "trigger", "kind": "manual"}, *nodes],
        "edges": [{"source": e[0], "target": e[1], **({"branch": e[2]} if len(e) > 2 else {})} for e in edges],
    }


LINEAR = wf(
    [action("fetch", "http", "request", config={"url": "https://a.example"}),
     action("mail", "email", "send", config={"to": ["a@example.com"]})],
    [("start", "fetch"), ("fetch", "mail")],
)

BRANCHY = wf(
    [action("fetch", "http", "request"),
     {"id": "big", "type": "condition", "config": {"expression": "nodes.fetch.body.total > 10"}},
     action("alert", "email", "send", config={"to": ["boss@example.com"]}),
     action("note", "email", "send", config={"to": ["team@example.com"]})],
    [("start", "fetch"), ("fetch", "big"), ("big", "alert", "true"), ("big", "note", "false")],
)


def test_identical_workflows_score_one() -> None:
    score = score_workflow(LINEAR, LINEAR)
    assert (score.nodes.f1, score.edges.f1, score.edit_similarity) == (1.0, 1.0, 1.0)


def test_ids_do_not_matter() -> None:
    renamed = wf(
        [action("get_it", "http", "request"), action("tell", "email", "send")],
        [("start", "get_it"), ("get_it", "tell")],
    )
    score = score_workflow(renamed, LINEAR)
    assert score.nodes.f1 == 1.0 and score.edges.f1 == 1.0
    assert score.mapping == {"start": "start", "get_it": "fetch", "tell": "mail"}


def test_an_extra_node_lowers_precision_only() -> None:
    extra = copy.deepcopy(LINEAR)
    extra["nodes"].append(action("log_it", "core", "log", config={"message": "x"}))
    extra["edges"].append({"source": "mail", "target": "log_it"})
    score = score_workflow(extra, LINEAR)
    # nodes: 3 matched of 4 predicted, 3 reference; edges: 2 of 3 predicted, 2 reference
    assert score.nodes == PRF(0.75, 1.0, pytest.approx(6 / 7))
    assert score.edges.precision == pytest.approx(2 / 3) and score.edges.recall == 1.0
    # edit similarity: 1 unmatched node + 1 unmatched edge out of 4 + 3 + 3 + 2
    assert score.edit_similarity == pytest.approx(1 - 2 / 12)


def test_a_wrong_dependency_keeps_node_f1_but_not_edge_f1() -> None:
    parallel = wf(
        [action("fetch", "http", "request"), action("mail", "email", "send")],
        [("start", "fetch"), ("start", "mail")],  # mail no longer waits for fetch
    )
    score = score_workflow(parallel, LINEAR)
    assert score.nodes.f1 == 1.0
    assert score.edges.f1 == pytest.approx(0.5)


def test_swapped_branches_are_wrong_edges() -> None:
    swapped = copy.deepcopy(BRANCHY)
    for edge in swapped["edges"]:
        if edge.get("branch"):
            edge["branch"] = "false" if edge["branch"] == "true" else "true"
    score = score_workflow(swapped, BRANCHY)
    assert score.nodes.f1 == 1.0
    # The matching cannot rescue both branches: only the two plain edges agree, whatever the pairing.
    assert score.edges.precision == pytest.approx(2 / 4) and score.edges.recall == pytest.approx(2 / 4)


def test_matching_pairs_same_label_nodes_by_their_neighbourhood() -> None:
    # Same shape as BRANCHY, node order and ids shuffled: the bipartite matching must still find
    # the pairing that makes every edge agree (a greedy first-come pairing would not).
    shuffled = wf(
        [action("b", "email", "send", config={"to": ["team@example.com"]}),
         action("a", "email", "send", config={"to": ["boss@example.com"]}),
         {"id": "check", "type": "condition", "config": {"expression": "x"}},
         action("get", "http", "request")],
        [("start", "get"), ("get", "check"), ("check", "a", "true"), ("check", "b", "false")],
    )
    score = score_workflow(shuffled, BRANCHY)
    assert score.edges.f1 == 1.0
    assert score.mapping["a"] == "alert" and score.mapping["b"] == "note"


def test_switch_branches_compare_by_the_value_matched() -> None:
    def routed(names: tuple[str, str]) -> dict:
        return wf(
            [{"id": "route", "type": "switch",
              "config": {"value": "trigger.priority", "cases": [{"name": names[0], "equals": "urgent"},
                                                              {"name": names[1], "equals": "low"}]}},
             action("page", "slack", "post_message"), action("file", "datastore", "insert")],
            [("start", "route"), ("route", "page", names[0]), ("route", "file", names[1])],
        )

    assert score_workflow(routed(("hot", "cold")), routed(("urgent", "low"))).edges.f1 == 1.0


def test_guardrail_nodes_inserted_by_passes_are_ignored_unless_the_case_is_about_them() -> None:
    reference = wf([action("sum", "llm", "summarize")], [("start", "sum")])
    guarded = wf(
        [{"id": "redact", "type": "guardrail", "kind": "pii_redaction", "origin": "guardrail"},
         action("sum", "llm", "summarize")],
        [("start", "redact"), ("redact", "sum")],
    )
    plain = score_workflow(guarded, reference)
    assert plain.nodes.f1 == 1.0 and plain.edges.f1 == 1.0  # start → sum after contraction
    about = score_workflow(guarded, reference, guardrail_case=True)
    assert about.nodes.precision == pytest.approx(2 / 3) and about.nodes.recall == 1.0
    assert score_workflow(guarded, guarded, guardrail_case=True).edges.f1 == 1.0


def test_loop_bodies_are_part_of_the_graph() -> None:
    def looped(inner: str) -> dict:
        return wf(
            [action("list", "http", "request"),
             {"id": "each", "type": "loop", "config": {"items": "{{ nodes.list.body }}"},
              "body": {"nodes": [action("x", "email", "send"), action("y", *inner.split("."))],
                       "edges": [{"source": "x", "target": "y"}]}}],
            [("start", "list"), ("list", "each")],
        )

    reference = looped("datastore.insert")
    assert score_workflow(looped("datastore.insert"), reference).edges.f1 == 1.0
    wrong = score_workflow(looped("core.log"), reference)
    assert wrong.nodes.recall == pytest.approx(4 / 5)
    assert wrong.edges.recall == pytest.approx(3 / 4)  # start→list, list→each, each→x (body) agree


def test_nothing_against_a_reference_scores_zero_and_empty_against_empty_one() -> None:
    assert score_workflow({}, LINEAR).nodes.f1 == 0.0
    assert PRF.from_counts(0, 0, 0) == PRF(1.0, 1.0, 1.0)
    assert PRF.from_counts(0, 3, 0).f1 == 0.0


def test_guardrail_hits_counts_each_kind_once() -> None:
    guarded = wf([{"id": "g", "type": "guardrail", "kind": "schema"}], [("start", "g")])
    assert guardrail_hits(guarded, ["schema", "approval"]) == 1


def _turn(expected_q: bool, asked_q: bool, *, valid: bool | None = True, failures=(), latency=10.0) -> TurnResult:
    return TurnResult(
        message="m", expected_question=expected_q, asked_question=asked_q, produced_workflow=not asked_q,
        valid=None if asked_q else valid, failures=list(failures), latency_ms=latency,
        guardrails_expected=2 if not expected_q else 0, guardrails_found=1 if not expected_q else 0,
    )


def test_aggregate_rates_by_hand() -> None:
    cases = [
        CaseResult("a", "x", False, [_turn(False, False)]),                      # pass
        CaseResult("b", "x", False, [_turn(True, True)]),                         # asked, rightly
        CaseResult("c", "x", False, [_turn(False, True, failures=["asked"])]),    # asked, wrongly
        CaseResult("d", "x", False, [_turn(True, False, failures=["guessed"])]),  # guessed instead
        CaseResult("e", "y", True, [_turn(False, False), _turn(False, False, valid=False, failures=["bad"])]),
    ]
    summary = aggregate(cases)
    assert summary["cases"] == 5 and summary["turns"] == 6
    assert summary["pass_rate"] == pytest.approx(2 / 5)
    assert summary["question_precision"] == pytest.approx(1 / 2)  # asked twice, once rightly
    assert summary["question_recall"] == pytest.approx(1 / 2)  # two should have asked, one did
    assert summary["valid_rate"] == pytest.approx(3 / 4)  # four workflows produced, one invalid
    assert summary["guardrail_recall"] == pytest.approx(4 / 8)
    assert summary["executable_rate"] is None  # no dry run was run
    assert summary["latency_ms_p50"] == 10.0
