"""Errors of insight reports. Each has a stable ``code``; the HTTP status is what the API answers."""

from __future__ import annotations

from engine.errors import FlowwrightError


class InsightsError(FlowwrightError):
    """Root of the insights errors."""

    code = "insights_error"
    status = 422


class ProposalNotFoundError(InsightsError):
    """The report over the asked window has no proposal (or finding) with this id."""

    code = "proposal_not_found"
    status = 404


class ProposalStaleError(InsightsError):
    """The workflow has a newer version than the one the proposal was made from.

    ``details``: ``current_version``, ``base_version``.
    """

    code = "proposal_stale"
    status = 409
