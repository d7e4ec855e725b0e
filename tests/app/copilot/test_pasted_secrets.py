"""Secrets pasted into chat messages: each shape found and cut out, ordinary words left alone."""

from __future__ import annotations

import base64

import pytest
import re2

from app.copilot.pasted_secrets import MASK, RULES, find_secrets, offers, redact_secrets, reply

SLACK = "xoxb-2048901234-7712345678901-Qw3rTyUiOpAsDfGhJkLz"
OPENAI = "sk-proj-9XkL2mQv7RtY4pW1sZ8nB3cV6xH0jF5g"


@pytest.mark.parametrize(("message", "kind", "secret"), [
    (f"post the digest to #sales, the bot token is {SLACK}", "slack_token", SLACK),
    (f"summarise each ticket with OpenAI, here is my key {OPENAI} thanks", "openai_api_key", OPENAI),
    ("use sk-ant-api03-Zx81Qw2Er3Ty4Ui5Op6As7Df8Gh9Jk0L for the model", "anthropic_api_key",
     "sk-ant-api03-Zx81Qw2Er3Ty4Ui5Op6As7Df8Gh9Jk0L"),
    ("refund it with sk_live_51HxQ2kLm3Np4Qr5St6Uv7Wx", "stripe_api_key", "sk_live_51HxQ2kLm3Np4Qr5St6Uv7Wx"),
    ("open an issue with ghp_R2d2C3poL8k9M0n1B2v3C4x5Z6a7S8d9F0g1", "github_token", "ghp_R2d2C3poL8k9M0n1B2v3C4x5Z6a7S8d9F0g1"),
    ("post to https://hooks.slack.com/services/T024BE7LD/B01ABCDEF/qwertyuiop1234567890 daily", "slack_webhook",
     "https://hooks.slack.com/services/T024BE7LD/B01ABCDEF/qwertyuiop1234567890"),
    ("copy to S3 with AKIAIOSFODNN7EXAMPLE", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
    ("geocode with AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google_api_key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"),
    ("call it with header Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543", "bearer_token",
     "8f14e45fceea167a5a36dedd4bea2543"),
    ("GET https://crm.example.com with Basic " + base64.b64encode(b"bob:hunter2").decode(), "basic_auth",
     base64.b64encode(b"bob:hunter2").decode()),
    ("count orders in postgres://report:Wint3r-2026!@db.internal:5432/sales", "url_password", "Wint3r-2026!"),
    ("log in as bob, my password is hunter2", "password", "hunter2"),
    ("the SFTP password: correcthorsebattery", "password", "correcthorsebattery"),
    ("le mot de passe est: Soleil#42", "password", "Soleil#42"),
    ("and use password Wint3r-2026!hunter for it", "password", "Wint3r-2026!hunter"),
    ("set api_key=9f8e7d6c5b4a3f2e1d0c in the header", "api_key", "9f8e7d6c5b4a3f2e1d0c"),
    ("the client secret is q8Z-1xVb_9Lm2Np3Rt4Wy5", "api_key", "q8Z-1xVb_9Lm2Np3Rt4Wy5"),
    ("a jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U here", "jwt",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "private_key",
     "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"),
])
def test_each_shape_is_cut_out(message: str, kind: str, secret: str) -> None:
    redacted = redact_secrets(message)
    assert [f.secret.kind for f in redacted.found] == [kind]
    assert secret not in redacted.text and MASK in redacted.text
    assert redacted.text == message.replace(secret, MASK)  # the rest of the request is untouched


@pytest.mark.parametrize("message", [
    "send the password reset link to alice@example.com",
    "if the password is wrong, email the user",
    "when the token is expired, refresh it and post to #ops",
    "store the api key in the vault and call https://api.example.com/v1/items",
    "the webhook body has a token field; skip calls where it is missing",
    "Basic plan customers get a weekly email",
    "Every Monday at 9am fetch https://api.example.com/sales and email a summary to alice@example.com",
    "the api key is {{ trigger.body.key }}",
    "ask-ant-farm supplies: sk-short",
    "reset the password field2 form for new users",
    "use password authentication for the SFTP server",
])
def test_ordinary_words_are_not_secrets(message: str) -> None:
    assert find_secrets(message) == []
    assert redact_secrets(message).text == message


def test_several_secrets_and_one_offer_per_kind() -> None:
    message = f"use {SLACK} for #a and xoxb-1111111111-abcdefghijklmnop for #b; password = s3cret!pw"
    redacted = redact_secrets(message)
    assert redacted.text == f"use {MASK} for #a and {MASK} for #b; password = {MASK}"
    made = offers(redacted.found, "team-a")
    assert [(o["kind"], o["credential_type"], o["suggested_name"]) for o in made] == [
        ("slack_token", "api_key", "slack"), ("password", "basic", "login")]
    assert made[0]["add"]["cli"] == "echo '<api key>' | flowwright credentials set slack --type api_key -w team-a"
    assert made[1]["add"]["api"].startswith("PUT /v1/credentials/login ")
    text = reply(redacted.found, "team-a")
    assert "a Slack token" in text and "a password" in text and SLACK not in text


def test_only_secrets_leaves_nothing_to_plan() -> None:
    assert redact_secrets(f"  {SLACK} ").only_secrets
    assert not redact_secrets(f"post to #sales with {SLACK}").only_secrets
    assert not redact_secrets("hello").only_secrets


def test_a_pasted_flowwright_key_is_to_be_revoked_not_stored() -> None:
    found = redact_secrets("my key fw_0123456789ab_" + "A" * 43).found
    assert [o.get("advice", "")[:6] for o in offers(found, "default")] == ["revoke"]


def test_every_rule_is_linear_time_re2() -> None:
    assert all(isinstance(rule.pattern, re2._Regexp) for rule in RULES)
