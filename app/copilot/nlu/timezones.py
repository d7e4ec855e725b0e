"""Place names and abbreviations → IANA time zones.

Built from the zoneinfo database itself (every zone's city part: "Tokyo", "New York",
"Sao Paulo"), plus a short table of what people say instead: abbreviations (ET, CET), regions
("Pacific time"), countries and big cities that have no zone of their own.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from zoneinfo import available_timezones

ALIASES: dict[str, str] = {
    # abbreviations and regions
    "utc": "UTC", "gmt": "UTC", "zulu": "UTC", "universal": "UTC",
    "et": "America/New_York", "est": "America/New_York", "edt": "America/New_York", "eastern": "America/New_York",
    "ct": "America/Chicago", "cst": "America/Chicago", "cdt": "America/Chicago", "central": "America/Chicago",
    "mt": "America/Denver", "mst": "America/Denver", "mdt": "America/Denver", "mountain": "America/Denver",
    "pt": "America/Los_Angeles", "pst": "America/Los_Angeles", "pdt": "America/Los_Angeles",
    "pacific": "America/Los_Angeles",
    "cet": "Europe/Berlin", "cest": "Europe/Berlin", "central european": "Europe/Berlin",
    "eet": "Europe/Athens", "eest": "Europe/Athens", "wet": "Europe/Lisbon",
    "bst": "Europe/London", "british": "Europe/London", "uk": "Europe/London",
    "ist": "Asia/Kolkata", "jst": "Asia/Tokyo", "kst": "Asia/Seoul", "sgt": "Asia/Singapore",
    "hkt": "Asia/Hong_Kong", "aest": "Australia/Sydney", "aedt": "Australia/Sydney",
    "nzst": "Pacific/Auckland", "nzdt": "Pacific/Auckland", "hst": "Pacific/Honolulu",
    # countries
    "germany": "Europe/Berlin", "german": "Europe/Berlin", "france": "Europe/Paris", "french": "Europe/Paris",
    "spain": "Europe/Madrid", "italy": "Europe/Rome", "netherlands": "Europe/Amsterdam",
    "england": "Europe/London", "britain": "Europe/London", "ireland": "Europe/Dublin",
    "japan": "Asia/Tokyo", "japanese": "Asia/Tokyo", "india": "Asia/Kolkata", "indian": "Asia/Kolkata",
    "china": "Asia/Shanghai", "korea": "Asia/Seoul", "australia": "Australia/Sydney",
    "brazil": "America/Sao_Paulo", "mexico": "America/Mexico_City", "canada": "America/Toronto",
    "switzerland": "Europe/Zurich", "austria": "Europe/Vienna", "sweden": "Europe/Stockholm",
    "poland": "Europe/Warsaw", "portugal": "Europe/Lisbon", "greece": "Europe/Athens",
    "turkey": "Europe/Istanbul", "israel": "Asia/Jerusalem", "egypt": "Africa/Cairo",
    "nigeria": "Africa/Lagos", "kenya": "Africa/Nairobi", "south africa": "Africa/Johannesburg",
    "singapore": "Asia/Singapore", "new zealand": "Pacific/Auckland", "hawaii": "Pacific/Honolulu",
    # cities without a zone of their own
    "san francisco": "America/Los_Angeles", "sf": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "portland": "America/Los_Angeles", "san diego": "America/Los_Angeles", "silicon valley": "America/Los_Angeles",
    "la": "America/Los_Angeles", "nyc": "America/New_York", "boston": "America/New_York",
    "washington": "America/New_York", "miami": "America/New_York", "atlanta": "America/New_York",
    "philadelphia": "America/New_York", "austin": "America/Chicago", "dallas": "America/Chicago",
    "houston": "America/Chicago", "munich": "Europe/Berlin", "frankfurt": "Europe/Berlin",
    "hamburg": "Europe/Berlin", "cologne": "Europe/Berlin", "barcelona": "Europe/Madrid",
    "milan": "Europe/Rome", "geneva": "Europe/Zurich", "manchester": "Europe/London",
    "edinburgh": "Europe/London", "mumbai": "Asia/Kolkata", "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata", "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata", "beijing": "Asia/Shanghai", "shenzhen": "Asia/Shanghai",
    "osaka": "Asia/Tokyo", "kyoto": "Asia/Tokyo", "rio": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo", "cape town": "Africa/Johannesburg",
    "tel aviv": "Asia/Jerusalem", "kiev": "Europe/Kyiv", "saint petersburg": "Europe/Moscow",
    "st petersburg": "Europe/Moscow", "montreal": "America/Toronto", "ottawa": "America/Toronto",
    "brisbane": "Australia/Brisbane", "brasilia": "America/Sao_Paulo", "brasil": "America/Sao_Paulo", "canberra": "Australia/Sydney", "wellington": "Pacific/Auckland",
}

# City parts that are also ordinary words: never read as a zone outside "<name> time".
_COMMON_WORDS = {"eastern", "central", "pacific", "mountain", "universal", "la", "sf", "et", "ct", "mt", "pt",
                 "ist", "zulu", "british", "german", "french", "indian", "japanese", "rio", "washington",
                 "portland", "victoria", "march", "may", "guernsey", "jersey", "chile"}


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", text.replace("_", " ").replace("-", " ")).strip().lower()


def _fold_char(char: str) -> str:
    if char.isascii():
        return char
    folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return folded[:1] or char


@lru_cache(maxsize=1)
def zone_names() -> dict[str, str]:
    """Lower-case place name → IANA zone, for every zone's city part and every alias."""
    names: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "US/")):
            continue
        city = _plain(zone.rsplit("/", 1)[1])
        names.setdefault(city, zone)
    for zone in ("US/Eastern", "US/Central", "US/Mountain", "US/Pacific"):
        names.setdefault(_plain(zone.split("/")[1]), {"eastern": "America/New_York"}.get(zone, zone))
    names.update(ALIASES)
    return names


@lru_cache(maxsize=1)
def _place_re() -> re.Pattern[str]:
    keys = sorted(zone_names(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b", re.IGNORECASE)


_IANA_RE = re.compile(r"\b([A-Z][A-Za-z_]+/[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z_]+)?)\b")


def find_timezone(text: str) -> tuple[str, tuple[int, int]] | None:
    """The time zone a text names and where: 'Tokyo time', 'in Berlin', '9am ET', 'Europe/Paris'."""
    for match in _IANA_RE.finditer(text):
        if match.group(1) in available_timezones():
            return match.group(1), match.span()
    plain = "".join(_fold_char(c) for c in text.lower())  # same length: spans stay valid
    best: tuple[str, tuple[int, int]] | None = None
    for match in _place_re().finditer(plain):
        name = match.group(1).lower()
        start, end = match.span()
        after = plain[end:end + 12]
        before = plain[max(0, start - 12):start]
        timed = bool(re.match(r"\s*(time|timezone|time zone|local time|hours?|hora|horario)\b", after)) or bool(
            re.search(r"\b(?:horario|hora|fuso|zona horaria|heure|uhrzeit|zeit)\s+(?:de\s+|da\s+|do\s+|in\s+)?$", before))
        clock = bool(re.search(r"(?:\d\s*(?:am|pm|h)?|\d:\d\d|noon|midnight)\s*[(\[,]?\s*$", before))
        abbreviation = name in ALIASES and len(name) <= 4 and text[start:end].isupper()
        located = bool(re.search(r"\b(in|for|at|of|using|per)\s+(the\s+)?$", before))
        if name in _COMMON_WORDS and not (timed or abbreviation or (clock and name in ALIASES and len(name) > 4)):
            continue
        if len(name) <= 4 and name in ALIASES and not (abbreviation or timed or clock):
            continue
        if not (timed or abbreviation or located or clock or re.search(r"\(\s*$", before)):
            continue
        suffix = re.match(r"\s*(time zone|timezone|local time|time|hours?)?", after)
        span = (start, end + (len(suffix.group(0)) if suffix else 0))
        if best is None or timed:
            best = (zone_names()[name], span)
            if timed:
                break
    return best
