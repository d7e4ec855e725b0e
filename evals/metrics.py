"""Generation-quality metrics: graph matching against a reference, and aggregates over cases.

Nodes are matched by label (connector+operation for actions, type — and kind — otherwise) with a
maximum-weight bipartite matching; among equally labelled candidates the matching prefers the
pairing whose neighbourhoods, ids and configs agree, so edge F1 is not lowered by an unlucky
pairing. Edges count when both endpoints are matched to the endpoints of a reference edge with
the same branch (switch branches compare by the value a case matches, not its name).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from evals.graph import FlatGraph, FlatNode, flatten

LABEL_WEIGHT = 100.0


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 of one comparison (empty against empty is a perfect score)."""

    precision: float
    recall: float
    f1: float

    @classmethod
    def from_counts(cls, true_positive: int, predicted: int, expected: int) -> PRF:
        if predicted == 0 and expected == 0:
            return cls(1.0, 1.0, 1.0)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / expected if expected else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1)


@dataclass(frozen=True)
class GraphScore:
    """How a generated workflow compares with the reference."""

    nodes: PRF
    edges: PRF
    edit_similarity: float  # 1 - (unmatched nodes + unmatched edges) / (all nodes + all edges)
    mapping: dict[str, str] = field(default_factory=dict)  # generated node key -> reference node key


def _neighbours(graph: FlatGraph, key: str) -> tuple[set[str], set[str]]:
    before = {graph.nodes[s].label for s, t, _ in graph.edges if t == key}
    after = {graph.nodes[t].label for s, t, _ in graph.edges if s == key}
    return before, after


def _jaccard(a: set[Any], b: set[Any]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _affinity(pred: FlatGraph, p: FlatNode, ref: FlatGraph, r: FlatNode) -> float:
    """Tie-breaker among same-label pairs: 0..7, never enough to outweigh one more label match."""
    p_in, p_out = _neighbours(pred, p.key)
    r_in, r_out = _neighbours(ref, r.key)
    score = 2 * _jaccard(p_in, r_in) + 2 * _jaccard(p_out, r_out)
    score += 1.0 if p.id == r.id else 0.0
    score += 1.0 if len(p.loops) == len(r.loops) else 0.0
    p_cfg, r_cfg = p.config, r.config
    if isinstance(p_cfg, dict) and isinstance(r_cfg, dict) and (p_cfg or r_cfg):
        keys = set(p_cfg) | set(r_cfg)
        score += sum(1 for k in keys if p_cfg.get(k) == r_cfg.get(k)) / len(keys)
    elif p_cfg == r_cfg:
        score += 1.0
    return score


def match_nodes(pred: FlatGraph, ref: FlatGraph) -> dict[str, str]:
    """Maximum bipartite matching of equally labelled nodes (generated key -> reference key)."""
    bipartite = nx.Graph()
    for p in pred.nodes.values():
        for r in ref.nodes.values():
            if p.label == r.label:
                bipartite.add_edge(("p", p.key), ("r", r.key), weight=LABEL_WEIGHT + _affinity(pred, p, ref, r))
    mapping = {}
    for a, b in nx.max_weight_matching(bipartite, maxcardinality=True):
        (side_a, key_a), (_, key_b) = a, b
        if side_a == "p":
            mapping[key_a] = key_b
        else:
            mapping[key_b] = key_a
    return mapping


def compare_graphs(predicted: FlatGraph, reference: FlatGraph) -> GraphScore:
    """Node F1, edge F1 and graph-edit similarity of two flattened workflows."""
    mapping = match_nodes(predicted, reference)
    ref_edges = set(reference.edges)
    pred_edges = set(predicted.edges)
    hits = sum(1 for s, t, b in pred_edges if (mapping.get(s), mapping.get(t), b) in ref_edges)
    nodes = PRF.from_counts(len(mapping), len(predicted.nodes), len(reference.nodes))
    edges = PRF.from_counts(hits, len(pred_edges), len(ref_edges))
    total = len(predicted.nodes) + len(reference.nodes) + len(pred_edges) + len(ref_edges)
    unmatched = (len(predicted.nodes) - len(mapping)) + (len(reference.nodes) - len(mapping))
    unmatched += (len(pred_edges) - hits) + (len(ref_edges) - hits)
    similarity = 1.0 - unmatched / total if total else 1.0
    return GraphScore(nodes, edges, similarity, mapping)


def score_workflow(predicted: Any, reference: Any, *, guardrail_case: bool = False) -> GraphScore:
    """Compare a generated workflow with the reference.

    Nodes the guardrail passes inserted (origin ``guardrail``) are contracted away on both sides,
    unless the case is about guardrails: then guardrail-type nodes count, whatever their origin.
    """
    options = {"drop_guardrail_origin": True, "keep_guardrail_nodes": guardrail_case}
    return compare_graphs(flatten(predicted, **options), flatten(reference, **options))


def guardrail_hits(workflow: Any, expected: list[str]) -> int:
    """How many of the expected guardrail kinds the workflow has (each counted once)."""
    graph = flatten(workflow)
    present = {str(n.raw.get("kind")) for n in graph.nodes.values() if n.type == "guardrail"}
    return sum(1 for kind in set(expected) if kind in present)


# --- per-turn and per-case results, and their aggregates ------------------------------------


@dataclass
class TurnResult:
    """One answer of the model, scored."""

    message: str
    expected_question: bool
    asked_question: bool
    produced_workflow: bool
    valid: bool | None  # None when no workflow was produced
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # validation problems of the output
    score: GraphScore | None = None  # None unless a workflow was expected
    guardrails_expected: int = 0
    guardrails_found: int = 0
    executable: bool | None = None  # None when the dry run was not run
    error: str | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    latency_ms: float = 0.0
    cache_hit: bool = False
    workflow: dict[str, Any] | None = None  # the answer, kept for the JSON report
    question: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None and (self.valid is not False)


@dataclass
class CaseResult:
    """Every turn of one case; the case passes when every turn does."""

    id: str
    category: str
    multi_turn: bool
    turns: list[TurnResult]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.turns)

    def _graph_mean(self, attr: str) -> float | None:
        values = [getattr(t.score, attr).f1 for t in self.turns if t.score is not None]
        return statistics.fmean(values) if values else None

    @property
    def node_f1(self) -> float | None:
        return self._graph_mean("nodes")

    @property
    def edge_f1(self) -> float | None:
        return self._graph_mean("edges")

    @property
    def edit_similarity(self) -> float | None:
        values = [t.score.edit_similarity for t in self.turns if t.score is not None]
        return statistics.fmean(values) if values else None

    @property
    def cost_usd(self) -> float:
        return sum(t.cost_usd for t in self.turns)

    @property
    def latency_ms(self) -> float:
        return sum(t.latency_ms for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "multi_turn": self.multi_turn,
            "passed": self.passed,
            "node_f1": _round(self.node_f1),
            "edge_f1": _round(self.edge_f1),
            "edit_similarity": _round(self.edit_similarity),
            "cost_usd": round(self.cost_usd, 6),
            "latency_ms": round(self.latency_ms, 1),
            "turns": [
                {
                    "passed": t.passed,
                    "question": t.asked_question,
                    "valid": t.valid,
                    "executable": t.executable,
                    "failures": t.failures,
                    "problems": t.problems[:10],
                    "error": t.error,
                    "cache_hit": t.cache_hit,
                    "tokens": t.tokens,
                    "latency_ms": round(t.latency_ms, 1),
                    "answer": {"question": t.question} if t.question and t.workflow is None else t.workflow,
                }
                for t in self.turns
            ],
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def aggregate(cases: list[CaseResult]) -> dict[str, Any]:
    """The summary figures of a set of case results (rates in 0..1; None when undefined)."""
    turns = [t for c in cases for t in c.turns]
    produced = [t for t in turns if t.produced_workflow]
    scored = [c for c in cases if c.node_f1 is not None]
    asked = [t for t in turns if t.asked_question]
    should_ask = [t for t in turns if t.expected_question]
    true_questions = sum(1 for t in asked if t.expected_question)
    dry = [t for t in produced if t.executable is not None]
    latencies = [t.latency_ms for t in turns]
    g_expected = sum(t.guardrails_expected for t in turns)
    return {
        "cases": len(cases),
        "turns": len(turns),
        "passed": sum(1 for c in cases if c.passed),
        "pass_rate": _ratio(sum(1 for c in cases if c.passed), len(cases)),
        "turn_pass_rate": _ratio(sum(1 for t in turns if t.passed), len(turns)),
        "valid_rate": _ratio(sum(1 for t in produced if t.valid), len(produced)),
        # the worst outcome: a valid, confident-looking workflow that is wrong (share of all answers)
        "confident_wrong": _ratio(sum(1 for t in produced if t.valid and not t.passed), len(turns)),
        "node_f1": statistics.fmean(c.node_f1 or 0.0 for c in scored) if scored else None,
        "edge_f1": statistics.fmean(c.edge_f1 or 0.0 for c in scored) if scored else None,
        "edit_similarity": statistics.fmean(c.edit_similarity or 0.0 for c in scored) if scored else None,
        "guardrail_recall": _ratio(sum(t.guardrails_found for t in turns), g_expected),
        "question_precision": _ratio(true_questions, len(asked)),
        "question_recall": _ratio(true_questions, len(should_ask)),
        "executable_rate": _ratio(sum(1 for t in dry if t.executable), len(dry)),
        "errors": sum(1 for t in turns if t.error),
        "cost_usd": sum(t.cost_usd for t in turns),
        "cost_usd_per_case": (sum(t.cost_usd for t in turns) / len(cases)) if cases else None,
        "tokens": sum(t.tokens for t in turns),
        "latency_ms_mean": statistics.fmean(latencies) if latencies else None,
        "latency_ms_p50": _percentile(latencies, 0.5),
        "latency_ms_p95": _percentile(latencies, 0.95),
        "cache_hits": sum(1 for t in turns if t.cache_hit),
        "cache_hit_rate": _ratio(sum(1 for t in turns if t.cache_hit), len(turns)),
    }
