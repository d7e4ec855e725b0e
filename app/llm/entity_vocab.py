"""Word lists behind :mod:`app.llm.entities`: units, weekdays, services, negations, actions, stopwords.

Data only. Each list is tuned on the labelled set in ``tests/data/cache_pairs.jsonl``: adding a
word to a structural list (negations, scope, services, actions) can only turn hits into misses,
never the reverse, so extending them is safe.
"""

from __future__ import annotations

WEEKDAYS = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri",
    "saturday": "sat", "sunday": "sun",
}
WEEKDAY_GROUPS = {
    "weekday": "weekdays", "weekdays": "weekdays", "workday": "weekdays", "workdays": "weekdays",
    "weekend": "weekend", "weekends": "weekend",
}
MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
}
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty-five": 45, "sixty": 60, "hundred": 100,
}
UNITS = {
    "s": "second", "sec": "second", "secs": "second", "second": "second", "seconds": "second",
    "m": "minute", "min": "minute", "mins": "minute", "minute": "minute", "minutes": "minute",
    "h": "hour", "hr": "hour", "hrs": "hour", "hour": "hour", "hours": "hour",
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "year": "year", "years": "year",
}
FREQUENCIES = {
    "hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month",
    "yearly": "year", "annually": "year", "quarterly": "quarter", "biweekly": "2week",
}
TIME_WORDS = {"nightly": "night", "noon": "12:00", "midday": "12:00", "midnight": "00:00", "morning": "morning",
               "afternoon": "afternoon", "evening": "evening", "night": "night", "tonight": "night"}
TZ_ABBREVIATIONS = {"utc", "gmt", "cet", "cest", "est", "edt", "cst", "cdt", "pst", "pdt", "mst", "mdt",
                     "bst", "ist", "jst", "aest", "aedt", "eet", "eest", "wet"}
CITIES = {
    "berlin", "london", "paris", "madrid", "rome", "amsterdam", "vienna", "zurich", "stockholm", "oslo",
    "dublin", "lisbon", "warsaw", "prague", "helsinki", "athens", "istanbul", "moscow", "dubai",
    "mumbai", "delhi", "kolkata", "singapore", "tokyo", "seoul", "shanghai", "beijing", "sydney",
    "melbourne", "auckland", "chicago", "denver", "toronto", "vancouver", "boston", "seattle",
    "new york", "los angeles", "san francisco", "sao paulo", "mexico city", "hong kong", "cairo",
    "johannesburg", "lagos", "nairobi", "bangkok", "jakarta", "manila",
}
# Canonical service per word; a service is structural (email vs Slack is a different workflow).
SERVICES = {
    "email": "email", "e-mail": "email", "emails": "email", "mail": "email", "inbox": "email",
    "smtp": "email", "gmail": "email", "outlook": "email",
    "slack": "slack", "sms": "sms", "text message": "sms", "teams": "teams", "discord": "discord",
    "telegram": "telegram", "whatsapp": "whatsapp", "webhook": "webhook", "webhooks": "webhook",
    "spreadsheet": "sheet", "sheet": "sheet", "sheets": "sheet", "excel": "sheet", "csv": "csv",
    "database": "database", "db": "database", "postgres": "database", "postgresql": "database",
    "mysql": "database", "sqlite": "database", "s3": "s3", "jira": "jira", "github": "github",
    "gitlab": "gitlab", "notion": "notion", "trello": "trello", "hubspot": "hubspot",
    "salesforce": "salesforce", "stripe": "stripe", "shopify": "shopify", "twilio": "twilio",
    "zendesk": "zendesk", "pagerduty": "pagerduty", "datadog": "datadog", "airtable": "airtable",
    "dropbox": "dropbox", "drive": "drive", "calendar": "calendar",
}
NEGATIONS = {
    "not": "not", "no": "not", "never": "not", "none": "not", "without": "not", "nobody": "not",
    "nothing": "not", "cannot": "not", "unless": "unless", "except": "except", "excluding": "except",
    "exclude": "except", "excludes": "except", "besides": "except", "skip": "except", "skipping": "except",
    "ignore": "except", "ignoring": "except",
}
COMPARATORS = [
    (r"(?:more|greater|higher|bigger|larger|older|later) than|above|over|exceeds?|exceeding", "gt"),
    (r"(?:less|fewer|lower|smaller|newer|younger|earlier) than|below|under|drops? below", "lt"),
    (r"at least|or more|minimum of|>=|≥", "ge"),
    (r"at most|or less|or fewer|maximum of|up to(?=\s+[$€£]?\d)|<=|≤", "le"),
    (r"equals?|equal to|exactly|==", "eq"),
    (r"(?<![-=<>])>(?=\s*-?\d)", "gt"),
    (r"(?<![-=<>])<(?=\s*-?\d)", "lt"),
    (r"between", "between"),
]
SCOPE_WORDS = {
    "only", "new", "existing", "old", "active", "inactive", "paid", "unpaid", "free", "premium", "trial",
    "open", "closed", "pending", "failed", "successful", "overdue", "cancelled", "canceled", "refunded",
    "archived", "deleted", "internal", "external", "vip", "enterprise", "churned", "unread",
    "urgent", "critical", "high-priority", "low-priority", "first", "last", "latest", "top", "bottom",
    "largest", "smallest", "highest", "lowest", "public", "private", "draft", "published", "verified",
    "unverified", "domestic", "international", "recurring", "single", "both", "either", "any",
}
# Canonical action per verb; consecutive repeats collapse ("send an email" is one action).
ACTIONS = {
    "fetch": "fetch", "fetches": "fetch", "fetching": "fetch", "get": "fetch", "gets": "fetch",
    "pull": "fetch", "pulls": "fetch", "download": "fetch", "downloads": "fetch", "retrieve": "fetch",
    "grab": "fetch", "load": "fetch", "query": "fetch", "collect": "fetch", "read": "fetch",
    "poll": "fetch", "scrape": "fetch", "call": "fetch", "request": "fetch", "look": "fetch",
    "send": "send", "sends": "send", "sending": "send", "email": "send", "mail": "send", "post": "send",
    "posts": "send", "notify": "send", "message": "send", "alert": "send", "ping": "send", "tell": "send",
    "forward": "send", "text": "send", "share": "send", "publish": "send", "dm": "send", "remind": "send",
    "save": "store", "saves": "store", "store": "store", "stores": "store", "insert": "store",
    "write": "store", "record": "store", "append": "store", "add": "store", "upsert": "store",
    "archive": "store", "backup": "store", "subscribe": "store", "export": "store", "upload": "store", "log": "store",
    "delete": "delete", "deletes": "delete", "remove": "delete", "purge": "delete", "clean": "delete",
    "drop": "delete", "clear": "delete",
    "summarize": "summarize", "summarise": "summarize", "summarizes": "summarize",
    "convert": "transform", "transform": "transform", "format": "transform", "translate": "transform",
    "classify": "transform", "extract": "transform", "parse": "transform", "enrich": "transform",
    "filter": "transform", "aggregate": "transform", "sum": "transform", "count": "transform",
    "create": "create", "generate": "create",
    "update": "update", "modify": "update", "edit": "update", "change": "update", "sync": "update",
    "approve": "approve", "review": "approve", "escalate": "escalate", "assign": "assign",
    "wait": "wait", "pause": "wait", "delay": "wait", "retry": "retry",
}

# Phrasing words: function words and the filler of automation requests.
STOPWORDS = frozenset("""
a about above across after afterwards again against all also always am among an and another any anyone
anything are around as at be became because become been before being below between both but by can could
did do does doing done down during each either else ever every everyone for from further had has have
having he her here hers him his how however i if in into is it it's its itself just let like made make
many may me might mine more most much must my myself need needs new no nor not now of off often on once
one only onto or other others our ours out over own per please put rather really same shall she should
since so some someone something such than that the their theirs them then there these they this those
though through thus to too toward towards under until up upon us use used using very via was way we well
were what whatever when whenever where whether which while who whoever whom whose why will with within
without would yet you your yours yourself automatically automation workflow want wants like ok okay hey
hi thanks thank kindly go goes going get gets got also make sure let's lets given new them they
message messages mail email notification notifications channel via time times person people someone
anybody somebody titled title called named subject label labelled labeled mention mentioning tag
""".split())
# Stems (see _stem) that mean the same in a request; "" marks phrasing.
SYNONYMS = {
    "entry": "record", "row": "record", "item": "record", "submission": "form", "submit": "form",
    "signup": "sign", "sign-up": "sign", "regist": "sign", "registration": "sign", "mark": "set",
    "number": "count", "amount": "count", "total": "count", "check": "", "look": "", "receiv": "",
    "arriv": "", "com": "", "incom": "", "happen": "", "occur": "", "exceed": "", "more": "", "less": "",
    "fewer": "", "greater": "", "higher": "", "lower": "", "least": "", "most": "", "abov": "", "below": "",
    "over": "", "under": "", "summary": "summariz", "summaris": "summariz",
}

CAPITALISED_STOP = {
    "i", "i'm", "i'd", "the", "a", "an", "and", "or", "then", "please", "every", "each", "at", "on",
    "in", "to", "for", "of", "from", "with", "by", "if", "when", "after", "before", "ok", "okay", "hi",
    "api", "json", "pdf", "url", "id", "ids", "ai", "llm", "am", "pm", "asap", "fyi", "eod", "kpi",
}

TABLE_STOP = {
    "the", "a", "an", "this", "that", "my", "our", "your", "their", "its", "same", "new", "each", "every",
    "which", "one", "data", "whole", "entire", "following", "to", "in", "into", "from", "and", "or", "then",
    "with", "for", "if", "when", "of", "on", "at", "by", "is", "are", "was", "be", "it", "them", "rows", "row",
    "records", "record", "entries", "entry", "as", "but", "unless", "except", "so", "after", "before", "daily",
    "weekly", "monthly", "nightly", "hourly", "all", "any", "some", "there", "here", "where", "called", "named",
}
