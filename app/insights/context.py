"""What the insight rules read: the window's figures, thresholds, cost rates and the evidence finder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.insights.evidence import Evidence
from app.insights.rates import CostRates
from app.insights.stats import Stats


@dataclass(frozen=True)
class Thresholds:
    """Where a figure becomes a finding (parameters, not numbers buried in the rules)."""

    min_runs: int = 3
    failure_rate: float = 0.2
    flaky_attempts: float = 1.5  # attempts per settled node run
    slow_share: float = 0.5  # a node's share of the time its workflow's nodes spend working (waits excluded)
    slow_ms: float = 1000.0
    slow_host_ms: float = 1000.0  # an external host's p95
    dominant_error: float = 0.8  # share of a node's failures that one error code makes a "mostly one error" node
    low_cache_hit_rate: float = 0.2
    min_model_calls: int = 10
    parse_error_rate: float = 0.1
    stale_approval_h: float = 24.0
    anomaly_z: float = 3.5  # robust z-score (median/MAD) beyond which an hour is unusual
    anomaly_baseline_h: int = 48  # hours of history the baseline is taken from
    anomaly_min_runs: int = 3  # runs an hour needs before its figures are judged
    proposed_concurrency: int = 4


@dataclass
class Context:
    stats: Stats
    thresholds: Thresholds
    evidence: Evidence | None = None
    rates: CostRates = field(default_factory=CostRates)
    catalog: Any = None  # the connector registry: proposals are validated against it

    @property
    def window_days(self) -> float:
        return max((self.stats.until - self.stats.since).total_seconds() / 86_400, 1e-9)

    def per_month(self, count: float) -> float:
        """A count over the window, projected to 30 days."""
        return count * 30 / self.window_days

    def ids(self, method: str, *args: Any) -> list[str]:
        """Example execution ids from the evidence finder (none without one)."""
        if self.evidence is None:
            return []
        found: list[str] = getattr(self.evidence, method)(*args)
        return found
