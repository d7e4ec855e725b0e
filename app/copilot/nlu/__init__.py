"""Language understanding for the local planner: entities, schedules, operations, plans, edits.

Deterministic and offline: regular grammars for the values a workflow needs verbatim (times,
addresses, channels, URLs, amounts), and sentence embeddings (all-MiniLM-L6-v2) over the
connector catalog for choosing the operation a clause asks for.
"""
