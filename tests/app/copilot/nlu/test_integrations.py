"""Apps without a connector are named, with the closest working path; covered apps are not."""

from __future__ import annotations

import pytest

from app.copilot.nlu import integrations
from app.copilot.plan import Question
from tests.app.copilot.local_chat import reply


def test_the_app_list_is_data_of_about_a_hundred_apps() -> None:
    apps = integrations.apps()
    assert len(apps) >= 100
    names = [a.name for a in apps]
    assert len(names) == len(set(names))
    assert all(a.aliases for a in apps)


@pytest.mark.parametrize(("text", "named"), [
    ("every monday pull the numbers from our google sheet and email them to bob@example.com", "Google Sheets"),
    ("create a Trello card for each new order", "Trello"),
    ("post the daily report in ms teams", "Microsoft Teams"),
    ("add every new signup to HubSpot as a contact", "HubSpot"),
])
def test_a_missing_app_is_named_with_a_working_path(text: str, named: str) -> None:
    [mention] = integrations.missing(text)
    assert mention.app.name == named
    answer = reply(text)
    assert isinstance(answer, Question)
    assert named in answer.question and "http" in answer.question


@pytest.mark.parametrize("text", [
    "fetch https://api.github.com/repos/acme/app/issues and post them to #dev",   # its API, by URL
    "When Stripe sends a payment webhook, email bob@example.com",                   # it calls us
    "every hour query our postgres database with SELECT 1 and log it",              # a built-in connector
    "notify the teams about the outage on #ops",                                     # 'teams' is not MS Teams
    "summarise it with GPT and email alice@example.com",                            # the llm connector
])
def test_apps_we_can_reach_are_not_missing(text: str) -> None:
    assert integrations.missing(text) == []


def test_mentions_ignore_urls_and_addresses() -> None:
    assert integrations.mentions("email ops@shopify-fans.example.com from https://trello.example.com/x") == []
