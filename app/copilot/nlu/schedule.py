"""Schedules in plain English → a five-field cron (or one ISO date-time) and an IANA time zone.

Understands: every N minutes/hours (optionally between two hours, on weekdays), hourly, daily /
every day / every morning at a time, twice or three times a day, weekdays / weekends, named days
("every Monday and Thursday at 9", "Mondays", "Monday to Friday"), weekly, every other day, every
N days, monthly / "on the 1st (or last day) of each month", quarterly, yearly on a date, and one
run on a date ("on 2026-12-01 at 10:00", "on March 3 at 5pm", "tomorrow at 9"). Time zones come
from place names ("5pm Tokyo time", "9am in Berlin"), abbreviations ("ET", "CET") or IANA names.
A schedule word with nothing definite ("every so often", "regularly") is reported as vague.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.copilot.nlu.numbers import NUMBER, ORDINALS, to_int
from app.copilot.nlu.timezones import find_timezone

DAYS = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6, "sunday": 0}
DAY_ABBR = {"mon": 1, "tue": 2, "tues": 2, "wed": 3, "thu": 4, "thur": 4, "thurs": 4, "fri": 5, "sat": 6, "sun": 0}
MONTHS = {m: i + 1 for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
MONTH_ABBR = {m[:3]: i for m, i in MONTHS.items()} | {"sept": 9}
DEFAULT_HOUR = 9

_DAY_WORD = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?s?"
_DAY_WORD_RE = re.compile(r"\b(" + _DAY_WORD + r")\b", re.IGNORECASE)
_MONTH_WORD = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"

TIME_RE = re.compile(
    r"(?:\b(?:at|@|by|around)\s+)?\b(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)(?![a-z])"
    r"|(?:\b(?:at|@|by|around)\s+)\b(?P<h2>\d{1,2})[:.h](?P<m2>\d{2})\b"
    r"|\b(?P<h4>\d{1,2}):(?P<m4>\d{2})\b"
    r"|(?:\b(?:at|@|by|around)\s+)(?P<h3>\d{1,2})(?:\s*o'?clock)?(?![\d%$]|:\d|[.,]\d|\s*(?:minutes?|mins?|hours?|days?|times?|items?|at a time|percent|%|,\d))"
    r"|\b(?P<word>noon|midday|midnight)\b",
    re.IGNORECASE,
)
_PARTS_OF_DAY = {"morning": 9, "afternoon": 14, "evening": 18, "tonight": 21, "night": 0, "nightly": 0}

VAGUE_RE = re.compile(
    r"\b(every so often|from time to time|periodically|regularly|occasionally|now and then|now and again|"
    r"every once in a while|once in a while|at some point|sometimes|on a schedule|on a regular basis|"
    r"every few (?:minutes|hours|days|weeks)|a few times a (?:day|week))\b",
    re.IGNORECASE,
)


@dataclass
class Schedule:
    """What a text says about when to run."""

    cron: str | None = None
    at: str | None = None
    timezone: str | None = None
    vague: bool = False
    no_time: bool = False  # day-level ("every weekday", "daily") without a clock time or part of the day
    assumptions: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.cron is not None or self.at is not None


def _day_number(word: str) -> int:
    word = word.lower().rstrip("s") if word.lower() not in ("tues", "thurs") else word.lower()
    word = word.removesuffix("day") if len(word) > 4 and word.endswith("day") else word
    for name, number in DAYS.items():
        if name.startswith(word[:3]):
            return number
    return DAY_ABBR.get(word[:3], 1)


def parse_times(text: str) -> list[tuple[int, int, tuple[int, int]]]:
    """Clock times in ``text`` as (hour, minute, span): '9am', '17:30', 'at 9', 'noon'."""
    out = []
    for match in TIME_RE.finditer(text):
        g = match.groupdict()
        if g["word"]:
            hour, minute = (0, 0) if g["word"].lower() == "midnight" else (12, 0)
        else:
            h = g["h"] or g["h2"] or g["h3"] or g["h4"]
            m = g["m"] or g["m2"] or g["m4"]
            hour, minute = int(h), int(m or 0)
            ampm = (g["ampm"] or "").lower().replace(".", "")
            if ampm == "pm" and hour < 12:
                hour += 12
            elif ampm == "am" and hour == 12:
                hour = 0
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            out.append((hour, minute, match.span()))
    return out


def _days_in(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    rng = re.search(r"\b(" + _DAY_WORD + r")\s*(?:-|–|to|through|thru|until)\s*(" + _DAY_WORD + r")\b", lowered)
    if rng:
        a, b = _day_number(rng.group(1)), _day_number(rng.group(2))
        a, b = (7 if a == 0 else a), (7 if b == 0 else b)
        spans.append(rng.span())
        if a <= b:
            return [d % 7 for d in range(a, b + 1)], spans
    days: list[int] = []
    for match in _DAY_WORD_RE.finditer(lowered):
        word = match.group(1)
        if word in ("sat", "sun", "wed", "mon") and not re.search(r"\b(on|every|each|and|,|or)\s*$", lowered[:match.start()]):
            continue  # "sun" / "sat" / "wed" as ordinary words
        days.append(_day_number(word))
        lead = re.search(r"\b(?:every\s+other|every|each|on|and|or)\s*,?\s*$", lowered[:match.start()])
        spans.append((lead.start() if lead else match.start(), match.end()))
    return sorted(set(days), key=lambda d: (d == 0, d)), spans


def _dow_field(days: list[int]) -> str:
    if not days:
        return "*"
    ordered = sorted(set(days))
    if ordered == [1, 2, 3, 4, 5]:
        return "1-5"
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(d) for d in ordered)


def _hour_range(text: str) -> tuple[str, tuple[int, int]] | None:
    lowered = text.lower()
    if m := re.search(r"\b(during|in)\s+(business|working|office|work)\s+hours\b", lowered):
        return "9-17", m.span()
    m = re.search(r"\b(?:between|from)\s+(\d{1,2})(?::\d{2})?\s*(am|pm)?\s*(?:and|to|until|-)\s*(\d{1,2})(?::\d{2})?\s*(am|pm)?",
                  lowered)
    if not m:
        return None
    a, b = int(m.group(1)), int(m.group(3))
    if m.group(2) == "pm" and a < 12:
        a += 12
    if m.group(4) == "pm" and b < 12:
        b += 12
    elif m.group(4) is None and m.group(2) is None and b < a:
        b += 12  # "between 9 and 5"
    if b <= a or b > 23:
        return None
    return f"{a}-{b}", m.span()


def _hours_field(times: list[tuple[int, int, tuple[int, int]]]) -> tuple[str, str]:
    minutes = {m for _, m, _ in times}
    hours = sorted({h for h, _, _ in times})
    if len(minutes) == 1:
        return str(minutes.pop()), ",".join(str(h) for h in hours)
    return str(times[0][1]), str(times[0][0])  # cron cannot mix minutes per hour: keep the first


def parse_schedule(text: str, *, today: date | None = None) -> Schedule:
    """Read a schedule out of ``text``; ``Schedule.found`` is false when there is none."""
    result = Schedule()
    # channel names ("#daily") and placeholders are never schedule words
    text = re.sub(r"#[\w.-]+|⟦\d+⟧", lambda m: "#" + "_" * (len(m.group(0)) - 1), text)
    lowered = text.lower()
    tz = find_timezone(text)
    if tz:
        result.timezone = tz[0]
        result.spans.append(tz[1])
    times = parse_times(text)
    if re.search(r"\b(evening|evenings|afternoon|afternoons|tonight)\b", lowered):
        # "every evening at 6" is 18:00
        times = [(h + 12 if h < 12 and not re.search(r"[ap]\.?m", text[a:b], re.I) else h, m, (a, b)) for h, m, (a, b) in times]
    time_spans = [s for _, _, s in times]

    def default_time() -> tuple[str, str]:
        if times:
            return _hours_field(times)
        for word, hour in _PARTS_OF_DAY.items():
            if re.search(rf"\b{word}\b", lowered):
                result.assumptions.append(f"'{word}' read as {hour:02d}:00")
                return "0", str(hour)
        result.assumptions.append(f"no time given, so {DEFAULT_HOUR:02d}:00")
        result.no_time = True
        return "0", str(DEFAULT_HOUR)

    def done(cron: str, *spans: tuple[int, int]) -> Schedule:
        result.cron = cron
        result.spans.extend(spans)
        result.spans.extend(time_spans)
        return result

    every = r"(?:every|each|once every|once each|per)"
    # every N minutes / hours / days
    m = re.search(rf"\b{every}\s+(?:{NUMBER}\s*)?(minutes?|mins?|hours?|hrs?|days?|weeks?)\b", lowered)
    lowered = re.sub(r"\bevery\s+(?:2nd|second)\s+(day|hour)\b", r"every other \1", lowered)
    lowered = re.sub(r"\bevery\s+(3rd|third|4th|fourth|5th|fifth)\s+(day|hour)s?\b",
                     lambda m: f"every {m.group(1)[0] if m.group(1)[0].isdigit() else {'t': '3', 'f': '4' if m.group(1).startswith('fo') else '5'}[m.group(1)[0]]} {m.group(2)}s",
                     lowered)
    half = re.search(rf"\b{every}\s+(half hour|half an hour|quarter hour|quarter of an hour|other (?:day|hour))\b", lowered)
    if half:
        unit = half.group(1)
        if unit.startswith("half"):
            return _sub_daily(result, lowered, "*/30 {hours} * * {dow}", half.span())
        if unit.startswith("quarter"):
            return _sub_daily(result, lowered, "*/15 {hours} * * {dow}", half.span())
        if unit == "other hour":
            return _sub_daily(result, lowered, "0 */2 * * {dow}", half.span())
        minute, hour = default_time()
        return done(f"{minute} {hour} */2 * *", half.span())
    if m:
        count = to_int(m.group(1)) if m.group(1) else 1
        unit = m.group(2)
        if unit.startswith("min"):
            if count >= 60 and count % 60 == 0:
                count, unit = count // 60, "hour"
            else:
                step = "*" if count == 1 else f"*/{count}"
                return _sub_daily(result, lowered, step + " {hours} * * {dow}", m.span())
        if unit.startswith(("hour", "hr")):
            minute = "0"
            if mm := re.search(r"\b(?:at|past)\s*:?(\d{2})\b|\bat\s+(\d{1,2})\s+minutes\s+past\b", lowered):
                minute = str(int(mm.group(1) or mm.group(2)))
            step = "*" if count == 1 else f"*/{count}"
            return _sub_daily(result, lowered, minute + " {hours} * * {dow}", m.span(), hour_step=step)
        if unit.startswith("day"):
            minute, hour = default_time()
            return done(f"{minute} {hour} {'*' if count == 1 else f'*/{count}'} * *", m.span())
        if unit.startswith("week") and count == 1:
            days, spans = _days_in(text)
            if not days:
                days = [1]
                result.assumptions.append("weekly read as Mondays")
            minute, hour = default_time()
            return done(f"{minute} {hour} * * {_dow_field(days)}", m.span(), *spans)
    if m := re.search(r"\bhourly\b|\bevery hour\b|\bon the hour\b|\btop of (?:every|each) hour\b", lowered):
        return _sub_daily(result, lowered, "0 {hours} * * {dow}", m.span())
    # n times a day
    if m := re.search(r"\b(twice|two times|three times|thrice|2x|3x)\s+(?:a|per|each|every)\s+day\b|\btwice daily\b", lowered):
        if len(times) >= 2:
            minute, hour = _hours_field(times)
        else:
            three = m.group(1) in ("three times", "thrice", "3x")
            hour, minute = ("9,13,17", "0") if three else ("9,17", "0")
            result.assumptions.append(f"{m.group(0)} read as {hour.replace(',', ':00, ')}:00")
        days, spans = _days_in(text)
        return done(f"{minute} {hour} * * {_dow_field(days)}", m.span(), *spans)
    # monthly
    month_word = re.search(r"\b(?:every|each|a|per|of the|of every|of each)\s+month\b|\bmonthly\b", lowered)
    if month_word:
        dom = "1"
        spans = [month_word.span()]
        if d := re.search(r"\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)?((?:\s*(?:,|and|&)\s*(?:the\s+)?\d{1,2}(?:st|nd|rd|th)?)*)\b"
                          r"|\bon\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b", lowered):
            days = [int(d.group(1) or d.group(3))] + [int(x) for x in re.findall(r"\d{1,2}", d.group(2) or "")]
            dom = ",".join(str(x) for x in sorted(set(days)) if 1 <= x <= 31) or "1"
            spans.append(d.span())
        elif d := re.search(r"\b(?:the\s+)?(" + "|".join(ORDINALS) + r"|last)\s+(?:day|business day|working day)?\b", lowered):
            dom = "L" if d.group(1) == "last" else str(ORDINALS[d.group(1)])
            spans.append(d.span())
        else:
            result.assumptions.append("monthly read as the 1st of the month")
        minute, hour = default_time()
        if dom == "L":
            dom = "28-31"
            result.assumptions.append("the last day of the month is approximated by days 28-31")
        return done(f"{minute} {hour} {dom} * *", *spans)
    # "on the first of January, April, July and October"
    month_list = re.search(r"\b(?:on\s+)?the\s+(\d{1,2}(?:st|nd|rd|th)?|" + "|".join(ORDINALS) + r"|last)\s+(?:day\s+)?of\s+("
                           + _MONTH_WORD + r"(?:\s*(?:,|and|,\s*and)\s*" + _MONTH_WORD + r")*)\b", lowered)
    if month_list:
        day_word = month_list.group(1)
        dom = "28-31" if day_word == "last" else str(ORDINALS.get(day_word) or int(re.sub(r"\D", "", day_word)))
        months = sorted({_month(w) for w in re.findall(_MONTH_WORD, month_list.group(2))})
        minute, hour = default_time()
        return done(f"{minute} {hour} {dom} {','.join(str(mo) for mo in months)} *", month_list.span())
    if m := re.search(r"\b(quarterly|every quarter|each quarter)\b", lowered):
        minute, hour = default_time()
        return done(f"{minute} {hour} 1 1,4,7,10 *", m.span())
    yearly = re.search(r"\b(yearly|annually|every year|each year|once a year)\b", lowered)
    dated = _find_date(lowered)
    if yearly:
        minute, hour = default_time()
        if dated:
            day, month, _, span = dated
            return done(f"{minute} {hour} {day} {month} *", yearly.span(), span)
        result.assumptions.append("yearly read as January 1st")
        return done(f"{minute} {hour} 1 1 *", yearly.span())
    # weekdays / weekends / named days
    if m := re.search(r"\b(?:every\s+|on\s+|each\s+)?(weekdays?|work ?days?|business days?|week ?nights?)\b", lowered):
        minute, hour = default_time()
        return done(f"{minute} {hour} * * 1-5", m.span())
    if m := re.search(r"\b(?:every\s+|on\s+|each\s+)?(?:the\s+)?weekends?\b", lowered):
        minute, hour = default_time()
        return done(f"{minute} {hour} * * 0,6", m.span())
    days, spans = _days_in(text)
    repeating_day = re.search(r"\b(every|each|on)\s+(" + _DAY_WORD + r")|\b(?:mon|tues|wednes|thurs|fri|satur|sun)days\b", lowered)
    next_day = re.search(r"\b(next|this|coming)\s+(" + _DAY_WORD + r")", lowered)
    ranged = re.search(r"\b(" + _DAY_WORD + r")\s*(?:-|–|to|through|thru)\s*(" + _DAY_WORD + r")\b", lowered)
    if days and (repeating_day or ranged) and not next_day:
        minute, hour = default_time()
        return done(f"{minute} {hour} * * {_dow_field(days)}", *spans)
    if m := re.search(r"\bweekly\b|\bonce a week\b", lowered):
        minute, hour = default_time()
        result.assumptions.append("weekly read as Mondays")
        return done(f"{minute} {hour} * * 1", m.span())
    if m := re.search(r"\b(every\s+(?:day|morning|evening|night|afternoon)|daily|each\s+(?:day|morning|evening|night)|nightly|"
                      r"once a day|per day|every single day)\b", lowered):
        minute, hour = default_time()
        return done(f"{minute} {hour} * * *", m.span())
    # one run on a date
    one = _one_run(lowered, dated, times, next_day, today or date.today())
    if one:
        result.at, span = one
        result.spans.append(span)
        result.spans.extend(time_spans)
        return result
    if VAGUE_RE.search(lowered):
        result.vague = True
        return result
    if times and re.search(r"\b(at|by|around)\s", lowered):
        # "at 5pm Tokyo time" with no day: every day at that time
        minute, hour = _hours_field(times)
        result.assumptions.append("no day given, so every day")
        return done(f"{minute} {hour} * * *")
    return result


def _sub_daily(result: Schedule, lowered: str, pattern: str, span: tuple[int, int], hour_step: str | None = None) -> Schedule:
    hours = hour_step or "*"
    spans = [span]
    if rng := _hour_range(lowered):
        start, end = (int(x) for x in rng[0].split("-"))
        if not pattern.startswith("0 ") and not pattern.split()[0].isdigit():
            end -= 1  # every N minutes "between 9 and 5" stops before 17:00
        window = f"{start}-{end}"
        hours = window if hour_step in (None, "*") else f"{window}/{hour_step.removeprefix('*/')}"
        spans.append(rng[1])
    days, day_spans = _days_in(lowered)
    if re.search(r"\b(weekdays?|business days?|work ?days?|business hours|working hours|office hours)\b", lowered):
        days = [1, 2, 3, 4, 5]
    spans.extend(day_spans)
    cron = pattern.format(hours=hours, dow=_dow_field(days))
    result.cron = cron
    result.spans.extend(spans)
    return result


def _find_date(lowered: str) -> tuple[int, int, int | None, tuple[int, int]] | None:
    """(day, month, year or None, span) of the first explicit calendar date."""
    if m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", lowered):
        return int(m.group(3)), int(m.group(2)), int(m.group(1)), m.span()
    if m := re.search(r"\b(" + _MONTH_WORD + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b", lowered):
        return int(m.group(2)), _month(m.group(1)), int(m.group(3)) if m.group(3) else None, m.span()
    if m := re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_WORD + r")\b(?:,?\s+(\d{4}))?", lowered):
        return int(m.group(1)), _month(m.group(2)), int(m.group(3)) if m.group(3) else None, m.span()
    return None


def _month(word: str) -> int:
    return MONTHS.get(word, MONTH_ABBR.get(word[:3], 1))


def _one_run(lowered: str, dated, times, next_day, today: date) -> tuple[str, tuple[int, int]] | None:  # type: ignore[no-untyped-def]
    hour, minute = (times[0][0], times[0][1]) if times else (DEFAULT_HOUR, 0)
    when: date | None = None
    span = (0, 0)
    if dated:
        day, month, year, span = dated
        try:
            when = date(year or today.year, month, day)
        except ValueError:
            return None
        if year is None and when < today:
            when = when.replace(year=today.year + 1)
    elif m := re.search(r"\b(tomorrow|today|tonight)\b", lowered):
        when = today + timedelta(days=1 if m.group(1) == "tomorrow" else 0)
        span = m.span()
        if m.group(1) == "tonight" and not times:
            hour = 21
    elif next_day:
        target = _day_number(next_day.group(2))
        delta = (target - today.isoweekday() % 7) % 7 or 7
        when = today + timedelta(days=delta)
        span = next_day.span()
    elif m := re.search(r"\bin\s+" + NUMBER + r"\s+(minutes?|hours?|days?)\b", lowered):
        if not re.search(r"\b(run|start|trigger|schedule|once)\b", lowered[:m.start()]):
            return None
        unit = {"m": 60, "h": 3600, "d": 86400}[m.group(2)[0]]
        moment = datetime.now().replace(second=0, microsecond=0) + timedelta(seconds=to_int(m.group(1)) * unit)
        return moment.isoformat(), m.span()
    if when is None:
        return None
    return datetime(when.year, when.month, when.day, hour, minute).isoformat(), span
