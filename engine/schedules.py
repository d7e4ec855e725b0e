"""Schedule checks and firing times (croniter + zoneinfo)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


def cron_problem(expr: str) -> str | None:
    """Why a cron string is not valid (five fields), or None when it is."""
    from croniter import croniter

    fields = expr.split()
    if len(fields) != 5:
        return f"cron needs 5 fields (minute hour day month weekday), got {len(fields)}"
    try:
        if not croniter.is_valid(expr):
            return "not a valid cron expression"
    except Exception as exc:  # croniter raises on some odd inputs instead of returning False
        return f"not a valid cron expression: {exc}"
    try:  # valid syntax that never fires ("0 0 30 2 *", February 30th) is a mistake too
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except Exception:
        return "this schedule never fires (no such date)"
    return None


def timezone_problem(name: str) -> str | None:
    """Why a time zone name is not a valid IANA zone, or None."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        return f"unknown time zone {name!r}"
    return None


def suggest_timezone(name: str) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.6)
    return match[0] if match else None


def next_fire_times(cron: str, timezone: str | None, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` firing times after ``start`` (aware datetimes in the schedule's zone)."""
    from croniter import croniter

    tz = ZoneInfo(timezone or "UTC")
    it = croniter(cron, start.astimezone(tz))
    return [it.get_next(datetime) for _ in range(count)]
