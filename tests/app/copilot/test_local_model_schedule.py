"""Schedules in plain English → cron + IANA zone (the local planner's schedule grammar)."""

from __future__ import annotations

from datetime import date

import pytest

from app.copilot.nlu.schedule import parse_schedule
from app.copilot.nlu.timezones import find_timezone
from engine.schedules import cron_problem

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(("text", "cron"), [
    ("every 5 minutes", "*/5 * * * *"),
    ("every five minutes on weekdays", "*/5 * * * 1-5"),
    ("every minute", "* * * * *"),
    ("every 2 hours", "0 */2 * * *"),
    ("every hour between 9 and 5 on weekdays", "0 9-17 * * 1-5"),
    ("every 30 minutes during business hours", "*/30 9-16 * * 1-5"),
    ("every 5 minutes between 9am and 5pm on weekdays", "*/5 9-16 * * 1-5"),
    ("at 7am on the first of January, April, July and October", "0 7 1 1,4,7,10 *"),
    ("hourly", "0 * * * *"),
    ("every half hour", "*/30 * * * *"),
    ("every day at 9am", "0 9 * * *"),
    ("daily at 17:30", "30 17 * * *"),
    ("each morning at 7:15", "15 7 * * *"),
    ("every weekday at 8:30", "30 8 * * 1-5"),
    ("weekdays at 8:30", "30 8 * * 1-5"),
    ("Monday to Friday at 7am", "0 7 * * 1-5"),
    ("every Monday at 9", "0 9 * * 1"),
    ("every Monday and Thursday at 9:15 am", "15 9 * * 1,4"),
    ("on Fridays at 4pm", "0 16 * * 5"),
    ("every sunday at 18:00", "0 18 * * 0"),
    ("every weekend at 10", "0 10 * * 0,6"),
    ("twice a day at 8am and 6pm", "0 8,18 * * *"),
    ("on the 1st of each month at 9am", "0 9 1 * *"),
    ("on the 15th of every month at 10:00", "0 10 15 * *"),
    ("every other day at 6pm", "0 18 */2 * *"),
    ("every 3 days at noon", "0 12 */3 * *"),
    ("at midnight every day", "0 0 * * *"),
    ("quarterly at 8am", "0 8 1 1,4,7,10 *"),
    ("every year on March 1st at 9am", "0 9 1 3 *"),
])
def test_repeating_schedules(text: str, cron: str) -> None:
    schedule = parse_schedule(text, today=TODAY)
    assert schedule.cron == cron
    assert cron_problem(schedule.cron) is None


@pytest.mark.parametrize(("text", "cron", "assumed"), [
    ("every morning", "0 9 * * *", "morning"),
    ("monthly", "0 9 1 * *", "1st"),
    ("every week", "0 9 * * 1", "Mondays"),
    ("twice a day", "0 9,17 * * *", "twice"),
])
def test_defaults_are_stated_as_assumptions(text: str, cron: str, assumed: str) -> None:
    schedule = parse_schedule(text, today=TODAY)
    assert schedule.cron == cron
    assert any(assumed in a for a in schedule.assumptions)


@pytest.mark.parametrize(("text", "zone"), [
    ("at 5pm Tokyo time", "Asia/Tokyo"),
    ("every day at 9am in New York", "America/New_York"),
    ("every day at 9am ET", "America/New_York"),
    ("every Monday at 9 Berlin time", "Europe/Berlin"),
    ("every day at noon London time", "Europe/London"),
    ("every day at 09:00 (Europe/Paris)", "Europe/Paris"),
    ("every day at 7 am Sydney time", "Australia/Sydney"),
    ("daily at 8 in the San Francisco time zone", "America/Los_Angeles"),
    ("every weekday at 10:00 CET", "Europe/Berlin"),
    ("every day at 6pm São Paulo time", "America/Sao_Paulo"),
])
def test_time_zones_from_places_and_abbreviations(text: str, zone: str) -> None:
    schedule = parse_schedule(text, today=TODAY)
    assert schedule.timezone == zone
    assert schedule.found


def test_bare_time_with_zone_runs_daily() -> None:
    schedule = parse_schedule("at 5pm Tokyo time", today=TODAY)
    assert (schedule.cron, schedule.timezone) == ("0 17 * * *", "Asia/Tokyo")


@pytest.mark.parametrize(("text", "at"), [
    ("on 2026-12-01 at 10:00", "2026-12-01T10:00:00"),
    ("tomorrow at 9am", "2026-11-23T09:00:00"),
    ("on December 3rd at 5pm", "2026-12-03T17:00:00"),
    ("next Monday at 8", "2026-11-23T08:00:00"),
])
def test_single_runs(text: str, at: str) -> None:
    schedule = parse_schedule(text, today=TODAY)
    assert schedule.at == at and schedule.cron is None


@pytest.mark.parametrize("text", ["every so often", "periodically", "regularly check the site", "from time to time"])
def test_vague_schedules_are_flagged(text: str) -> None:
    schedule = parse_schedule(text, today=TODAY)
    assert schedule.vague and not schedule.found


@pytest.mark.parametrize("text", [
    "when a form is submitted", "process 10 at a time", "if the total is over 1000", "wait 2 days",
    "post the summary to #daily", "retry up to 5 times",
])
def test_no_schedule_in_ordinary_text(text: str) -> None:
    assert not parse_schedule(text, today=TODAY).found


def test_ordinary_words_are_not_zones() -> None:
    assert find_timezone("post it to the central channel") is None
    assert find_timezone("send it in March") is None


@pytest.mark.parametrize(("text", "zone"), [("every day 7am utc run it", "UTC"), ("daily at 9am est", "America/New_York"),
                                            ("every day at 9 cet", "Europe/Berlin")])
def test_a_lower_case_zone_after_a_clock_time(text: str, zone: str) -> None:
    assert parse_schedule(text, today=TODAY).timezone == zone
