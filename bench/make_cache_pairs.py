"""Write tests/data/cache_pairs.jsonl: the semantic cache's labelled set (run from the repo root).

Each family is one automation request (``a``) with the workflow a planner would produce for it,
paraphrases that must hit, and hard negatives that differ only in a value, a negation, an order or
a scope. For a value negative the correct workflow for ``b`` is included too (``workflow_b``): a
cached answer re-bound to b's values counts as correct only if it equals that workflow exactly.

    python bench/make_cache_pairs.py
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "cache_pairs.jsonl"
DOW = {"Monday": 1, "Tuesday": 2, "Wednesday": 3, "Thursday": 4, "Friday": 5, "Saturday": 6, "Sunday": 0}


def chain(name: str, trigger: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    """A linear workflow: trigger → steps, following the ``true`` branch out of conditions."""
    nodes = [trigger, *steps]
    edges = []
    for prev, nxt in zip(nodes, nodes[1:], strict=False):
        edge = {"source": prev["id"], "target": nxt["id"]}
        if prev["type"] == "condition":
            edge["branch"] = "true"
        edges.append(edge)
    return {"schema_version": "1", "name": name, "nodes": nodes, "edges": edges}


def schedule(cron: str, tz: str = "UTC") -> dict[str, Any]:
    return {"id": "schedule", "type": "trigger", "kind": "schedule", "config": {"cron": cron, "timezone": tz}}


def webhook() -> dict[str, Any]:
    return {"id": "incoming", "type": "trigger", "kind": "webhook", "config": {"method": "POST"}}


def action(node_id: str, connector: str, operation: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "action", "connector": connector, "operation": operation, "config": config}


def condition(expression: str) -> dict[str, Any]:
    return {"id": "check", "type": "condition", "config": {"expression": expression}}


def fetch(url: str) -> dict[str, Any]:
    node = action("fetch", "http", "request", method="GET", url=url)
    node["retry"] = {"max_attempts": 3, "backoff": "exponential", "initial_delay_s": 1, "max_delay_s": 60}
    return node


# -- families ------------------------------------------------------------------------------------


def weekly_report(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Sales report", schedule(f"0 {v['hour']} * * {DOW[v['day']]}"), fetch(v["url"]),
                 action("send_report", "email", "send", to=[v["email"]], subject="Sales report",
                        body="{{ nodes.fetch.body.summary }}"))


def failed_orders(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Failed orders alert", schedule("0 * * * *"), fetch("https://api.acme.io/orders?status=failed"),
                 condition(f"nodes.fetch.body.count > {v['limit']}"),
                 action("alert", "slack", "post_message", channel=v["channel"],
                        text="{{ $string(nodes.fetch.body.count) & ' failed orders in the last hour' }}"))


def lead_capture(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Lead capture", webhook(), action("save", "datastore", "insert", table=v["table"],
                                                   row="{{ trigger.body }}"),
                 action("notify", "email", "send", to=[v["email"]], subject="New lead",
                        body="{{ trigger.body.name & ' <' & trigger.body.email & '>' }}"))


def standup(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Standup digest", schedule("30 8 * * 1-5", "Europe/Berlin"),
                 fetch("https://acme.atlassian.net/rest/api/3/search?jql=created%3E%3D-1d"),
                 action("summarize", "llm", "summarize", text="{{ nodes.fetch.body.issues }}"),
                 action("post", "slack", "post_message", channel=v["channel"], text="{{ nodes.summarize.summary }}"))


def cleanup(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Session cleanup", schedule("0 2 * * *"),
                 action("purge", "datastore", "delete", table=v["table"],
                        where=f"created_at < $now() - {v['days']} days"))


def github_bugs(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Bug triage", webhook(), condition(f"trigger.body.issue.label = '{v['label']}'"),
                 action("post", "slack", "post_message", channel=v["channel"],
                        text=f"{v['mention']} new {v['label']} issue: {{{{ trigger.body.issue.title }}}}"))


def top_posts(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Morning reading", schedule("0 7 * * *"), fetch(v["url"]),
                 action("pick", "core", "transform", expression=f"$subarray(body.items, 0, {v['n']})"),
                 action("send", "email", "send", to=[v["email"]], subject="Top posts",
                        body="{{ $join(nodes.pick.title, '\\n') }}"))


def invoice_reminder(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Invoice reminders", schedule(f"0 10 {v['dom']} * *"),
                 fetch("https://api.acme.io/invoices?status=unpaid"),
                 action("remind", "email", "send", to="{{ nodes.fetch.body.customers.email }}",
                        subject="Your unpaid invoice", body="Please pay your invoice.",
                        **{"from": v["sender"]}))


def zendesk_refunds(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Refund escalation", webhook(),
                 condition(f"$contains($lowercase(trigger.body.ticket.description), '{v['word']}')"),
                 action("assign", "http", "request", method="PUT", url="https://acme.zendesk.com/api/v2/tickets",
                        json={"assignee": v["agent"], "priority": "urgent"}))


def deal_digest(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Closed deals digest", schedule("0 17 * * 5", v["tz"]),
                 fetch("https://acme.my.salesforce.com/services/data/v59.0/query?q=closed_won_this_week"),
                 action("post", "slack", "post_message", channel=v["channel"], text="{{ nodes.fetch.body.summary }}"))


def big_payments(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Big payments", webhook(), condition(f"trigger.body.amount > {v['min']}"),
                 action("record", "datastore", "insert", table=v["table"], row="{{ trigger.body }}"),
                 action("notify", "slack", "post_message", channel=v["channel"],
                        text="{{ 'Payment of ' & $string(trigger.body.amount) }}"))


def uptime(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Uptime check", schedule(f"*/{v['every']} * * * *"), fetch(v["url"]),
                 condition("nodes.fetch.status != 200"),
                 action("page", "email", "send", to=[v["email"]], subject="Site down",
                        body="{{ 'Status ' & $string(nodes.fetch.status) }}"))


def welcome(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Welcome new customers", webhook(),
                 action("subscribe", "http", "request", method="POST",
                        url="https://us1.api.mailchimp.com/3.0/lists/newsletter/members",
                        json={"email_address": "{{ trigger.body.email }}", "status": "subscribed"}),
                 action("welcome", "email", "send", to="{{ trigger.body.email }}", subject=v["subject"],
                        body="Thanks for signing up!", **{"from": v["sender"]}))


def disk_alert(v: dict[str, Any]) -> dict[str, Any]:
    return chain("Disk usage alert", schedule("*/10 * * * *"), fetch(v["url"]),
                 condition(f"nodes.fetch.body.disk_used_percent > {v['pct']}"),
                 action("page", "slack", "post_message", channel=v["channel"],
                        text="{{ 'Disk at ' & $string(nodes.fetch.body.disk_used_percent) & '%' }}"))


Pair = tuple[str, str, dict[str, Any] | None]  # (text b, why, values for b or None)

FAMILIES: list[dict[str, Any]] = [
    {
        "build": weekly_report,
        "values": {"hour": 9, "day": "Monday", "url": "https://api.acme.io/sales", "email": "alice@acme.io"},
        "a": "Every Monday at 9am, fetch the sales report from https://api.acme.io/sales and email it to alice@acme.io",
        "hits": [
            "Each Monday at 9 am, pull the sales report from https://api.acme.io/sales and send it to alice@acme.io by email",
            "Every Monday at 09:00 fetch the sales report from https://api.acme.io/sales and email it to alice@acme.io",
            "On Mondays at 9am get the sales report from https://api.acme.io/sales and mail it to alice@acme.io",
            "Email alice@acme.io the sales report from https://api.acme.io/sales every Monday at 9am",
            "every monday at 9am: fetch the sales report from https://api.acme.io/sales, then email it to alice@acme.io",
            "Please fetch the sales report from https://api.acme.io/sales every Monday at 9am and email it to alice@acme.io",
        ],
        "misses": [
            ("Every Monday at 9am, fetch the sales report from https://api.acme.io/sales and email it to bob@acme.io",
             "value", {"email": "bob@acme.io"}),
            ("Every Friday at 9am, fetch the sales report from https://api.acme.io/sales and email it to alice@acme.io",
             "value", {"day": "Friday"}),
            ("Every Monday at 10am, fetch the sales report from https://api.acme.io/sales and email it to alice@acme.io",
             "value", {"hour": 10}),
            ("Every Monday at 9am, fetch the sales report from https://api.acme.io/refunds and email it to alice@acme.io",
             "value", {"url": "https://api.acme.io/refunds"}),
            ("Every Friday at 9am, fetch the sales report from https://api.acme.io/sales and email it to bob@acme.io",
             "value", {"day": "Friday", "email": "bob@acme.io"}),
            ("Every day except Monday at 9am, fetch the sales report from https://api.acme.io/sales and email it to alice@acme.io",
             "negation", None),
            ("Every Monday at 9am, email alice@acme.io and then fetch the sales report from https://api.acme.io/sales",
             "order", None),
            ("Every Monday at 9am, fetch only the new sales from https://api.acme.io/sales and email them to alice@acme.io",
             "scope", None),
        ],
    },
    {
        "build": failed_orders,
        "values": {"limit": 100, "channel": "#ops"},
        "a": "Every hour, check the failed orders and post to #ops if there are more than 100 failed orders",
        "hits": [
            "Hourly, check the failed orders and alert #ops when there are more than 100 failed orders",
            "Every hour check failed orders; if more than 100 failed orders, post a message in #ops",
            "Each hour, look at the failed orders and post in #ops when failed orders exceed 100",
            "Post to #ops every hour if the number of failed orders is above 100",
            "Check failed orders every hour and post to the #ops channel if there are over 100 failed orders",
            "every hour: if more than 100 orders failed, post to #ops",
        ],
        "misses": [
            ("Every hour, check the failed orders and post to #ops if there are fewer than 100 failed orders",
             "negation", None),
            ("Every hour, check the failed orders and post to #sales if there are more than 100 failed orders",
             "value", {"channel": "#sales"}),
            ("Every hour, check the failed orders and post to #ops if there are more than 500 failed orders",
             "value", {"limit": 500}),
            ("Every day, check the failed orders and post to #ops if there are more than 100 failed orders",
             "value", None),
            ("Every hour, check the failed orders and don't post to #ops if there are more than 100 failed orders",
             "negation", None),
            ("Every hour, check the successful orders and post to #ops if there are more than 100 successful orders",
             "scope", None),
            ("Every hour, check only the new failed orders and post to #ops if there are more than 100",
             "scope", None),
        ],
    },
    {
        "build": lead_capture,
        "values": {"table": "leads", "email": "sales@acme.io"},
        "a": "When a form is submitted to the webhook, save the entry in the leads table and email sales@acme.io",
        "hits": [
            "Whenever the webhook receives a form submission, store it in the leads table and send an email to sales@acme.io",
            "On each webhook form submission, save the entry to the leads table and email sales@acme.io",
            "When the webhook gets a form, save it in the leads table, then email sales@acme.io",
            "Save every form submitted to the webhook in the leads table and email sales@acme.io about it",
            "webhook form submission -> save the entry in the leads table and email sales@acme.io",
            "When someone submits the form to our webhook, save the entry into the leads table and email sales@acme.io",
        ],
        "misses": [
            ("When a form is submitted to the webhook, save the entry in the contacts table and email sales@acme.io",
             "value", {"table": "contacts"}),
            ("When a form is submitted to the webhook, save the entry in the leads table and email support@acme.io",
             "value", {"email": "support@acme.io"}),
            ("When a form is submitted to the webhook, email sales@acme.io and then save the entry in the leads table",
             "order", None),
            ("When a form is submitted to the webhook, save the entry in the leads table but do not email sales@acme.io",
             "negation", None),
            ("When a form is submitted to the webhook, save only new entries in the leads table and email sales@acme.io",
             "scope", None),
            ("When a form is submitted to the webhook, save the entry in the leads table and email sales@acme.io unless it is spam",
             "negation", None),
        ],
    },
    {
        "build": standup,
        "values": {"channel": "#standup"},
        "a": "Every weekday at 8:30am Berlin time, summarize yesterday's Jira tickets and post the summary to #standup",
        "hits": [
            "On weekdays at 8:30am Berlin time, summarise yesterday's Jira tickets and post it in #standup",
            "Every weekday at 08:30 Berlin time, post a summary of yesterday's Jira tickets to #standup",
            "Each weekday, 8:30am Berlin time: summarize the Jira tickets from yesterday and post the summary in #standup",
            "Summarize yesterday's Jira tickets every weekday at 8:30am Berlin time and post the summary to #standup",
            "Every weekday at 8:30 am (Berlin time) summarize yesterday's Jira tickets and share the summary in #standup",
        ],
        "misses": [
            ("Every weekday at 8:30am Berlin time, summarize today's Jira tickets and post the summary to #standup",
             "value", None),
            ("Every weekend at 8:30am Berlin time, summarize yesterday's Jira tickets and post the summary to #standup",
             "value", None),
            ("Every weekday at 8:30am Berlin time, summarize yesterday's Jira tickets and post the summary to #random",
             "value", {"channel": "#random"}),
            ("Every weekday at 8:30am London time, summarize yesterday's Jira tickets and post the summary to #standup",
             "value", None),
            ("Every weekday at 8:30am Berlin time, summarize only the critical Jira tickets from yesterday and post the summary to #standup",
             "scope", None),
            ("Every weekday at 8:30am Berlin time, post yesterday's Jira tickets to #standup without summarizing them",
             "negation", None),
            ("Every weekday at 8:30am Berlin time, post yesterday's Jira tickets to #standup and then summarize them",
             "order", None),
        ],
    },
    {
        "build": cleanup,
        "values": {"table": "sessions", "days": 30},
        "a": "Every night at 2am, delete rows older than 30 days from the sessions table",
        "hits": [
            "Every night at 2 am delete the rows older than 30 days in the sessions table",
            "Each night at 2am, remove rows from the sessions table that are older than 30 days",
            "At 2am every night purge rows older than 30 days from the sessions table",
            "Nightly at 2am, delete sessions table rows older than 30 days",
            "Delete rows older than 30 days from the sessions table every night at 2am",
            "every night at 02:00 delete rows in the sessions table older than 30 days",
        ],
        "misses": [
            ("Every night at 2am, delete rows older than 90 days from the sessions table", "value", {"days": 90}),
            ("Every night at 2am, delete rows older than 30 days from the audit_log table", "value",
             {"table": "audit_log"}),
            ("Every night at 2am, delete rows newer than 30 days from the sessions table", "negation", None),
            ("Every night at 2am, delete rows older than 30 days from the sessions table except the active ones",
             "negation", None),
            ("Every night at 3am, delete rows older than 30 days from the sessions table", "value", None),
            ("Every night at 2am, delete all rows from the sessions table", "scope", None),
            ("Every night at 2am, delete only the expired rows older than 30 days from the sessions table",
             "scope", None),
        ],
    },
    {
        "build": github_bugs,
        "values": {"label": "bug", "channel": "#bugs", "mention": "@oncall"},
        "a": "When a GitHub issue labeled \"bug\" is opened, post it to #bugs and mention @oncall",
        "hits": [
            "Whenever a GitHub issue with the label \"bug\" is opened, post it in #bugs and mention @oncall",
            "When someone opens a GitHub issue labeled \"bug\", post it to #bugs and tag @oncall",
            "Post GitHub issues labeled \"bug\" to #bugs when they are opened and mention @oncall",
            "For each GitHub issue opened with the \"bug\" label, post to #bugs mentioning @oncall",
            "If a GitHub issue labelled \"bug\" is opened, post it in #bugs and mention @oncall",
        ],
        "misses": [
            ("When a GitHub issue labeled \"feature\" is opened, post it to #bugs and mention @oncall", "value",
             {"label": "feature"}),
            ("When a GitHub issue labeled \"bug\" is opened, post it to #triage and mention @oncall", "value",
             {"channel": "#triage"}),
            ("When a GitHub issue labeled \"bug\" is opened, post it to #bugs and mention @maria", "value",
             {"mention": "@maria"}),
            ("When a GitHub issue not labeled \"bug\" is opened, post it to #bugs and mention @oncall", "negation", None),
            ("When a GitHub issue labeled \"bug\" is opened, post it to #bugs but don't mention @oncall", "negation",
             None),
            ("When a GitHub issue labeled \"bug\" is closed, post it to #bugs and mention @oncall", "scope", None),
            ("When a private GitHub issue labeled \"bug\" is opened, post it to #bugs and mention @oncall", "scope",
             None),
        ],
    },
    {
        "build": top_posts,
        "values": {"n": 5, "url": "https://news.example.com/api/top", "email": "me@acme.io"},
        "a": "Every morning at 7am, fetch the top 5 posts from https://news.example.com/api/top and email them to me@acme.io",
        "hits": [
            "Each morning at 7am get the top 5 posts from https://news.example.com/api/top and email them to me@acme.io",
            "Every morning at 7 am, pull the 5 top posts from https://news.example.com/api/top and send them to me@acme.io",
            "Email me@acme.io the top 5 posts from https://news.example.com/api/top every morning at 7am",
            "At 7am every morning fetch the top 5 posts at https://news.example.com/api/top and email them to me@acme.io",
            "every morning 7am: top 5 posts from https://news.example.com/api/top, emailed to me@acme.io",
        ],
        "misses": [
            ("Every morning at 7am, fetch the top 10 posts from https://news.example.com/api/top and email them to me@acme.io",
             "value", {"n": 10}),
            ("Every evening at 7pm, fetch the top 5 posts from https://news.example.com/api/top and email them to me@acme.io",
             "value", None),
            ("Every morning at 7am, fetch the top 5 posts from https://news.example.com/api/new and email them to me@acme.io",
             "value", {"url": "https://news.example.com/api/new"}),
            ("Every morning at 7am, fetch the last 5 posts from https://news.example.com/api/top and email them to me@acme.io",
             "scope", None),
            ("Every morning at 7am, fetch the top 5 posts from https://news.example.com/api/top but never email them to me@acme.io",
             "negation", None),
            ("Every morning at 7am, fetch the top 5 posts from https://news.example.com/api/top and email them to you@acme.io",
             "value", {"email": "you@acme.io"}),
        ],
    },
    {
        "build": invoice_reminder,
        "values": {"dom": 1, "sender": "billing@acme.io"},
        "a": "On the 1st of every month at 10:00, email every customer with an unpaid invoice a reminder from billing@acme.io",
        "hits": [
            "On the 1st of each month at 10:00, send every customer with an unpaid invoice a reminder email from billing@acme.io",
            "Monthly on the 1st at 10am, email a reminder from billing@acme.io to every customer with an unpaid invoice",
            "Every month on the 1st at 10:00, remind each customer with an unpaid invoice by email from billing@acme.io",
            "On the 1st of every month at 10:00 send a reminder from billing@acme.io to all customers with an unpaid invoice",
            "Email a reminder from billing@acme.io at 10:00 on the 1st of every month to every customer with an unpaid invoice",
        ],
        "misses": [
            ("On the 15th of every month at 10:00, email every customer with an unpaid invoice a reminder from billing@acme.io",
             "value", {"dom": 15}),
            ("On the 1st of every month at 10:00, email every customer with an unpaid invoice a reminder from accounts@acme.io",
             "value", {"sender": "accounts@acme.io"}),
            ("On the 1st of every month at 10:00, email every customer with an overdue invoice a reminder from billing@acme.io",
             "scope", None),
            ("On the 1st of every month at 10:00, email every customer a reminder from billing@acme.io", "scope", None),
            ("On the 1st of every month at 10:00, email every customer without an unpaid invoice a reminder from billing@acme.io",
             "negation", None),
            ("On the 1st of every month at 10:00, email every customer with an unpaid invoice a reminder from billing@acme.io, except VIP customers",
             "negation", None),
        ],
    },
    {
        "build": zendesk_refunds,
        "values": {"word": "refund", "agent": "Maria"},
        "a": "When a Zendesk ticket mentions \"refund\", mark it urgent and assign it to Maria",
        "hits": [
            "If a Zendesk ticket mentions \"refund\", mark it as urgent and assign it to Maria",
            "Whenever a Zendesk ticket mentions \"refund\", assign it to Maria and mark it urgent",
            "Zendesk tickets that mention \"refund\" should be marked urgent and assigned to Maria",
            "When a Zendesk ticket mentions \"refund\", set it to urgent and assign it to Maria",
            "For every Zendesk ticket mentioning \"refund\": mark it urgent, assign it to Maria",
        ],
        "misses": [
            ("When a Zendesk ticket mentions \"chargeback\", mark it urgent and assign it to Maria", "value",
             {"word": "chargeback"}),
            ("When a Zendesk ticket mentions \"refund\", mark it urgent and assign it to Tom", "value",
             {"agent": "Tom"}),
            ("When a Zendesk ticket doesn't mention \"refund\", mark it urgent and assign it to Maria", "negation", None),
            ("When a Zendesk ticket mentions \"refund\", assign it to Maria but don't mark it urgent", "negation", None),
            ("When a Zendesk ticket mentions \"refund\", mark it low-priority and assign it to Maria", "scope", None),
            ("When a Zendesk ticket mentions \"refund\", mark it urgent and assign it to Maria unless it is closed",
             "negation", None),
        ],
    },
    {
        "build": deal_digest,
        "values": {"tz": "Europe/Berlin", "channel": "#sales-leads"},
        "a": "Every Friday at 5pm Berlin time, post a digest of this week's closed deals from Salesforce to #sales-leads",
        "hits": [
            "Each Friday at 5pm Berlin time, post a digest of this week's closed deals from Salesforce in #sales-leads",
            "Every Friday at 17:00 Berlin time, post this week's closed Salesforce deals as a digest to #sales-leads",
            "On Fridays at 5 pm Berlin time post a digest of the closed deals of this week from Salesforce to #sales-leads",
            "Post a digest of this week's closed deals from Salesforce to #sales-leads every Friday at 5pm Berlin time",
            "Fridays 5pm Berlin time: digest of this week's closed deals from Salesforce, posted to #sales-leads",
        ],
        "misses": [
            ("Every Friday at 5pm Tokyo time, post a digest of this week's closed deals from Salesforce to #sales-leads",
             "value", None),
            ("Every Friday at 5pm Berlin time, post a digest of last week's closed deals from Salesforce to #sales-leads",
             "value", None),
            ("Every Friday at 5pm Berlin time, post a digest of this week's closed deals from Salesforce to #exec",
             "value", {"channel": "#exec"}),
            ("Every Friday at 5pm Berlin time, post a digest of this week's open deals from Salesforce to #sales-leads",
             "scope", None),
            ("Every Friday at 5pm Berlin time, post a digest of this week's closed deals from Salesforce to #sales-leads, excluding enterprise deals",
             "negation", None),
            ("Every Thursday at 5pm Berlin time, post a digest of this week's closed deals from Salesforce to #sales-leads",
             "value", None),
        ],
    },
    {
        "build": big_payments,
        "values": {"min": 500, "table": "big_payments", "channel": "#finance"},
        "a": "For every Stripe payment over 500, add it to the big_payments table and notify #finance",
        "hits": [
            "For each Stripe payment over 500, add it to the big_payments table and notify #finance",
            "When a Stripe payment is over 500, insert it into the big_payments table and notify #finance",
            "Every Stripe payment above 500 should be added to the big_payments table, then notify #finance",
            "Add Stripe payments over 500 to the big_payments table and notify #finance",
            "Stripe payment over 500? add it to the big_payments table and notify #finance",
        ],
        "misses": [
            ("For every Stripe payment under 500, add it to the big_payments table and notify #finance", "negation",
             None),
            ("For every Stripe payment over 5000, add it to the big_payments table and notify #finance", "value",
             {"min": 5000}),
            ("For every Stripe payment over 500, add it to the big_payments table and notify #billing", "value",
             {"channel": "#billing"}),
            ("For every Stripe payment over 500, notify #finance and then add it to the big_payments table", "order",
             None),
            ("For every refunded Stripe payment over 500, add it to the big_payments table and notify #finance",
             "scope", None),
            ("For every Stripe payment over 500, add it to the big_payments table and don't notify #finance",
             "negation", None),
            ("For every Stripe payment over 500, add it to the large_payments table and notify #finance", "value",
             {"table": "large_payments"}),
        ],
    },
    {
        "build": uptime,
        "values": {"every": 5, "url": "https://shop.acme.io/health", "email": "oncall@acme.io"},
        "a": "Every 5 minutes, check https://shop.acme.io/health and email oncall@acme.io if it does not return 200",
        "hits": [
            "Every 5 minutes check https://shop.acme.io/health and email oncall@acme.io if it doesn't return 200",
            "Each 5 minutes, request https://shop.acme.io/health and email oncall@acme.io when it does not return 200",
            "Check https://shop.acme.io/health every 5 minutes; if it does not return 200, email oncall@acme.io",
            "Every five minutes, check https://shop.acme.io/health and email oncall@acme.io if it does not return 200",
            "Poll https://shop.acme.io/health every 5 mins and email oncall@acme.io if it does not return 200",
        ],
        "misses": [
            ("Every 15 minutes, check https://shop.acme.io/health and email oncall@acme.io if it does not return 200",
             "value", None),
            ("Every 5 minutes, check https://shop.acme.io/health and email oncall@acme.io if it returns 200",
             "negation", None),
            ("Every 5 minutes, check https://api.acme.io/health and email oncall@acme.io if it does not return 200",
             "value", {"url": "https://api.acme.io/health"}),
            ("Every 5 minutes, check https://shop.acme.io/health and email ops@acme.io if it does not return 200",
             "value", {"email": "ops@acme.io"}),
            ("Every 5 hours, check https://shop.acme.io/health and email oncall@acme.io if it does not return 200",
             "value", None),
            ("Every 5 minutes, check https://shop.acme.io/health and email oncall@acme.io if it does not return 200, except on weekends",
             "negation", None),
        ],
    },
    {
        "build": welcome,
        "values": {"subject": "Welcome to Acme", "sender": "hello@acme.io"},
        "a": "When a customer signs up, add them to the Mailchimp newsletter list and send a welcome email "
             "from hello@acme.io with the subject \"Welcome to Acme\"",
        "hits": [
            "Whenever a customer signs up, add them to the Mailchimp newsletter list and send a welcome email "
            "from hello@acme.io with the subject \"Welcome to Acme\"",
            "When someone signs up as a customer, subscribe them to the Mailchimp newsletter list and email them a welcome "
            "message from hello@acme.io with subject \"Welcome to Acme\"",
            "On customer sign-up: add them to the Mailchimp newsletter list, then send a welcome email from hello@acme.io "
            "titled \"Welcome to Acme\"",
            "Add each customer who signs up to the Mailchimp newsletter list and send them a welcome email from "
            "hello@acme.io with the subject \"Welcome to Acme\"",
        ],
        "misses": [
            ("When a customer cancels, add them to the Mailchimp newsletter list and send a welcome email "
             "from hello@acme.io with the subject \"Welcome to Acme\"", "scope", None),
            ("When a customer signs up, remove them from the Mailchimp newsletter list and send a welcome email "
             "from hello@acme.io with the subject \"Welcome to Acme\"", "scope", None),
            ("When a customer signs up, add them to the Mailchimp newsletter list and send a welcome email "
             "from team@acme.io with the subject \"Welcome to Acme\"", "value", {"sender": "team@acme.io"}),
            ("When a customer signs up, add them to the Mailchimp newsletter list and send a welcome email "
             "from hello@acme.io with the subject \"Glad you're here\"", "value", {"subject": "Glad you're here"}),
            ("When a customer signs up, send a welcome email from hello@acme.io with the subject \"Welcome to Acme\" "
             "and then add them to the Mailchimp newsletter list", "order", None),
            ("When a customer signs up, add them to the Mailchimp newsletter list but don't send a welcome email "
             "from hello@acme.io", "negation", None),
            ("When a trial customer signs up, add them to the Mailchimp newsletter list and send a welcome email "
             "from hello@acme.io with the subject \"Welcome to Acme\"", "scope", None),
        ],
    },
    {
        "build": disk_alert,
        "values": {"pct": 90, "channel": "#infra", "url": "https://metrics.acme.io/db1/disk"},
        "a": "Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #infra when it is above 90%",
        "hits": [
            "Every 10 minutes read the disk usage at https://metrics.acme.io/db1/disk and alert #infra if it's above 90%",
            "Check the disk usage from https://metrics.acme.io/db1/disk every 10 minutes and alert #infra when above 90%",
            "Each 10 minutes, fetch disk usage from https://metrics.acme.io/db1/disk; alert #infra when it goes above 90%",
            "Alert #infra when disk usage from https://metrics.acme.io/db1/disk is above 90%, checking every 10 minutes",
        ],
        "misses": [
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #infra when it is above 80%",
             "value", None),
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #infra when it is below 90%",
             "negation", None),
            ("Every 10 minutes, read memory usage from https://metrics.acme.io/db1/disk and alert #infra when it is above 90%",
             "scope", None),
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db2/disk and alert #infra when it is above 90%",
             "value", {"url": "https://metrics.acme.io/db2/disk"}),
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #dba when it is above 90%",
             "value", {"channel": "#dba"}),
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #infra unless it is above 90%",
             "negation", None),
            ("Every 10 minutes, read disk usage from https://metrics.acme.io/db1/disk and alert #infra when it is above "
             "90% for 3 checks in a row", "scope", None),
        ],
    },
]


def _pairs() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for family in FAMILIES:
        build: Callable[[dict[str, Any]], dict[str, Any]] = family["build"]
        base = family["values"]
        workflow_a = build(base)
        for b in family["hits"]:
            rows.append({"a": family["a"], "b": b, "label": "hit", "why": "paraphrase", "workflow_a": workflow_a})
        for b, why, delta in family["misses"]:
            row: dict[str, Any] = {"a": family["a"], "b": b, "label": "miss", "why": why, "workflow_a": workflow_a}
            if delta is not None:
                row["workflow_b"] = build({**base, **delta})
            rows.append(row)
        # Paraphrases against each other too: the cache sees requests in any order.
        hits = family["hits"]
        for first, second in zip(hits, hits[1:], strict=False):
            rows.append({"a": first, "b": second, "label": "hit", "why": "paraphrase", "workflow_a": workflow_a})
    return rows


def main() -> None:
    rows = _pairs()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    labels = {label: sum(r["label"] == label for r in rows) for label in ("hit", "miss")}
    print(f"wrote {len(rows)} pairs to {OUT} ({labels})")


if __name__ == "__main__":
    main()
