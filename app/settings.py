"""The one Settings object (env prefix ``FLOWWRIGHT_``), built by a cached ``get_settings()``."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.insights.rates import CostRates

PLACEHOLDER_KEYS = {"", "changeme", "change-me", "secret", "placeholder", "dev", "development", "test", "xxx"}


class UnsafeSettingsError(ValueError):
    """A setting is not safe for production (a placeholder secret key, say)."""


class Settings(BaseSettings):
    """Every setting Flowwright reads. Each is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="FLOWWRIGHT_", env_file=None, extra="ignore")

    env: Literal["development", "production"] = Field("development", description="production refuses unsafe values")
    data_dir: Path = Field(Path(".flowwright"), description="Where the database, Chroma and keys live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in the data dir.")
    db_busy_timeout_s: float = Field(30.0, ge=0.01, le=600, description="SQLite: how long one statement waits "
                                     "for another writer's lock before it counts as a database fault.")
    db_pool_timeout_s: float = Field(30.0, ge=0.01, le=600, description="How long a request waits for a free "
                                     "database connection before it counts as a database fault.")
    db_retry_s: float = Field(300.0, ge=0, le=86_400, description="How long execution writes are retried "
                              "(with backoff) while the database is locked or restarting; the API answers "
                              "a database fault with 503 and Retry-After.")
    host: str = Field("127.0.0.1", description="Address the service binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the service listens on.")
    public_url: str | None = Field(None, description="The address people and webhook callers reach the service "
                                   "at (https://flow.example.com); its host is trusted, its origin allowed.")
    trusted_hosts: str = Field("", description="Comma-separated extra Host names the service answers (loopback "
                               "names and FLOWWRIGHT_PUBLIC_URL's host always); any other Host gets 400.")
    cors_origins: str = Field("", description="Comma-separated origins allowed to call the API from a browser "
                              "(CORS); empty: CORS off.")
    rate_limit: str = Field("600/minute", description="Requests one API key may make (limits notation: "
                            "600/minute, 10/second; off: no limit); over it: 429 with Retry-After.")
    rate_limit_storage: Literal["database", "memory"] = Field(
        "memory", description="Where the per-key request counts live: memory (each process counts its own) or "
        "database (shared by every API process using the same database; each request then writes to it).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Service log level.")
    model: str = Field("local/flowwright-planner", description="A litellm model string.")
    model_api_base: str | None = Field(None, description="Model endpoint (Ollama, a proxy, Azure...).")
    model_api_key: str | None = Field(None, description="API key passed to litellm (else the provider's own env var).")
    model_timeout_s: float = Field(60.0, gt=0, description="Timeout of one model request.")
    model_deadline_s: float = Field(180.0, gt=0, description="Total deadline of a model call, retries included.")
    model_max_tokens: int = Field(2048, ge=1, description="Default max output tokens of a model call.")
    model_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of model calls.")
    model_structured_mode: Literal["tools", "json", "md_json"] = Field(
        "tools", description="How instructor asks for structured output (tools: function calling).")
    model_strict_output: bool = Field(True, description="Tools mode: send the copilot's response schema with "
                                      "OpenAI's strict flag, so the provider holds its answer to the schema; "
                                      "false for OpenAI-compatible servers that refuse the flag.")
    allow_model_requests: bool = Field(True, description="Kill switch: false refuses every model but "
                                       "local/ and fake/ (the test suite sets it false).")
    embedding_model: str | None = Field(None, description="A litellm embedding model for the semantic cache; "
                                        "default: the built-in offline all-MiniLM-L6-v2.")
    embedding_api_base: str | None = Field(None, description="Endpoint of FLOWWRIGHT_EMBEDDING_MODEL.")
    cache_enabled: bool = Field(True, description="Serve and store model answers through the semantic cache.")
    cache_threshold: float = Field(0.85, gt=0, le=1, description="Cosine similarity a cached request must reach.")
    cache_ttl_s: float = Field(7 * 24 * 3600, gt=0, description="How long a cached answer stays servable.")
    secret_key: str | None = Field(None, description="Master key (base64, 32 bytes); generated if unset.")
    previous_secret_keys: str = Field("", description="Comma-separated retired master keys that still decrypt "
                                      "credentials until `flowwright keys rotate` re-seals them.")
    http_allow_hosts: str = Field("", description="Comma-separated hosts/CIDRs (and PostgreSQL socket "
                                  "directories) that connectors reaching a host (http, slack, database, email) may "
                                  "reach despite SSRF protection.")
    database_files: str = Field("", description="Comma-separated directories whose SQLite files the database "
                                "connector may open (never the data dir); empty: no SQLite files.")
    oauth_providers_file: Path | None = Field(None, description="A JSON or YAML file of OAuth 2.0 providers "
                                              "(authorize/token URLs, scopes) added to the shipped ones.")
    oauth_refresh_ahead_s: float = Field(3600.0, ge=60, le=30 * 24 * 3600, description="Service: OAuth 2.0 "
                                         "access tokens expiring within this many seconds are refreshed.")
    oauth_refresh_poll_s: float = Field(60.0, ge=0, le=24 * 3600, description="Service: how often the OAuth 2.0 "
                                        "refresh job looks for tokens due (0: never; tokens still refresh on use).")
    oauth_refresh_attempts: int = Field(3, ge=1, le=10, description="Tries per OAuth 2.0 refresh (exponential "
                                        "backoff) before the credential is marked needs_reauth.")
    oauth_refresh_backoff_s: float = Field(5.0, ge=0, le=600, description="First wait between OAuth 2.0 refresh "
                                           "tries (doubled each time).")
    openapi_max_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                                   description="Largest OpenAPI document `flowwright connectors import` accepts.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body the API reads (413 "
                                "above it, counted while it streams in); webhooks have their own limit.")
    webhook_max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Largest webhook request body.")
    max_json_depth: int = Field(64, ge=8, le=200, description="Deepest nesting of objects and arrays a JSON "
                                "request body may have (422 naming the path above it).")
    insights_rollup_interval_s: float = Field(60.0, ge=0, le=24 * 3600, description="Service: how often the "
                                              "insight rollups take in changed executions (0: only when a report "
                                              "is built).")
    metrics_token: SecretStr | None = Field(None, min_length=16, description="A bearer token (16+ characters) "
                                            "for Prometheus: GET /metrics with it shows every workspace and the "
                                            "workers; without it only an admin API key's own workspace.")
    insights_hourly_rollup_days: float = Field(35.0, ge=0, le=3660, description="Service: hourly insight "
                                               "rollups of days older than this are deleted (the daily ones "
                                               "stay; 0 keeps them).")
    insights_cost_rates: CostRates = Field(default_factory=CostRates, description="The insights cost model's "
                                           "rates in USD, as JSON: base, per_node, per_second, per_external_call, "
                                           "per_1k_tokens.")
    otel_endpoint: str | None = Field(None, description="OpenTelemetry: the OTLP/HTTP collector's base URL "
                                      "(http://collector:4318; /v1/traces is added). Each ended execution is "
                                      "exported as a trace. Unset, the standard OTEL_EXPORTER_OTLP_ENDPOINT is "
                                      "used; neither: tracing is off.")
    step_output_limit_bytes: int = Field(1024 * 1024, ge=1024, description="Largest output stored per step.")
    max_concurrency: int = Field(16, ge=1, le=1000, description="Nodes running at once per execution.")
    workflow_max_concurrent: int = Field(0, ge=0, le=100_000, description="Executions of one saved workflow "
                                         "running at once when the workflow sets no max_concurrent_executions "
                                         "(0: no limit); later ones wait, pending, in start order.")
    retention_max_age_days: float = Field(30.0, ge=0, le=36_500, description="Service: finished executions "
                                          "older than this are deleted with their steps, logs and events (0 keeps them).")
    retention_max_per_workflow: int = Field(10_000, ge=0, le=10_000_000, description="Service: finished executions "
                                            "kept per workflow, newest first (0 keeps any number).")
    retention_interval_s: float = Field(3600.0, ge=0, le=7 * 24 * 3600, description="Service: how often retention "
                                        "sweeps (0: never in the service; `flowwright executions prune` still does).")
    retention_batch: int = Field(500, ge=1, le=100_000, description="Executions deleted per transaction by retention.")
    scheduler_enabled: bool = Field(True, description="Service: fire schedule triggers and poll polling triggers of active workflows.")
    scheduler_poll_s: float = Field(1.0, gt=0, le=60, description="Service: how often the scheduler looks for due runs.")
    workers: int = Field(1, ge=0, le=256, description="`flowwright serve`: worker processes started beside the "
                         "API (0: API only; executions wait for `flowwright worker` processes).")
    worker_capacity: int = Field(16, ge=1, le=10_000, description="Executions one worker drives at once.")
    worker_heartbeat_s: float = Field(2.0, ge=0.05, le=300, description="Worker heartbeat interval; a silent "
                                      "worker's executions are adopted within two intervals.")
    backend: Literal["local", "temporal"] = Field("local", description="Where executions run: `local` (this "
                                                  "database's queue and Flowwright workers) or `temporal` (one "
                                                  "interpreter workflow per execution on a Temporal service).")
    temporal_address: str = Field("localhost:7233", description="Temporal backend: the Temporal frontend, host:port.")
    temporal_namespace: str = Field("default", description="Temporal backend: the Temporal namespace.")
    temporal_task_queue: str = Field("flowwright", min_length=1, max_length=200, description="Temporal backend: "
                                     "task queue prefix; a workspace's executions run on `<prefix>-<workspace id>`.")
    temporal_heartbeat_timeout_s: float = Field(10.0, ge=1, le=3600, description="Temporal backend: a node "
                                                "whose worker went silent this long runs again on another worker.")
    max_adoptions: int = Field(3, ge=1, le=100, description="An execution whose workers died more than this "
                               "many times is not handed out again: it fails (worker_lost) into the dead-letter queue.")
    breaker_failures: int = Field(50, ge=1, le=100_000, description="Consecutive transient failures of a "
                                  "connector host (within FLOWWRIGHT_BREAKER_WINDOW_S) that open its circuit breaker.")
    breaker_window_s: float = Field(300.0, gt=0, le=86_400, description="Window of a circuit breaker's failure "
                                    "count (counted from the first failure).")
    breaker_open_s: float = Field(300.0, gt=0, le=86_400, description="How long an open circuit fails fast "
                                  "before one trial call (half-open).")
    expression_time_limit_ms: int = Field(1000, ge=10, le=60_000, description="Time limit of one expression evaluation.")
    expression_memory_limit_mb: int = Field(256, ge=32, le=16_384, description="Memory an expression worker "
                                            "process may use beyond its start-up size.")
    expression_workers: int = Field(0, ge=0, le=64, description="Worker processes for slow expressions "
                                    "(0: one per two CPUs, 1 to 4).")
    default_timezone: str = Field("UTC", description="Copilot: time zone of schedules that name none (IANA).")
    default_email: str | None = Field(None, description="Copilot: default email recipient offered to the model.")
    default_slack_channel: str | None = Field(None, description="Copilot: default Slack channel offered to the model.")
    copilot_context_tokens: int = Field(3000, ge=500, le=100_000, description="Copilot: token budget of the "
                                        "injected context (catalog excerpt, workflows, examples).")
    copilot_max_reasks: int = Field(2, ge=0, le=5, description="Copilot: re-asks with validation errors.")
    copilot_warm_up: bool = Field(True, description="Copilot: `flowwright serve` loads it in the background at "
                                  "start (`/health` reports `copilot`: `warming`, then `ready`).")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from app.auth.rate_limit import parse_rate

        parse_rate(value)
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as http://collector:4318")
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://flow.example.com")
        return value.strip().rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'flowwright.db').resolve()}"

    def ensure_data_dir(self) -> Path:
        """The data dir, created private (0700) or tightened to 0700/0600 (``app.data_dir``)."""
        from app.data_dir import secure

        return secure(self.data_dir)

    def master_key(self) -> str:
        """The master key: the configured one, or one generated into ``data_dir/secret.key`` (0600)."""
        if self.secret_key is not None:
            if self.env == "production" and self.secret_key.strip().lower() in PLACEHOLDER_KEYS:
                raise UnsafeSettingsError(
                    "FLOWWRIGHT_SECRET_KEY is a placeholder; set a random key (e.g. `openssl rand -base64 32`)"
                )
            return self.secret_key
        key_file = self.ensure_data_dir() / "secret.key"
        if not key_file.exists():
            import base64

            key = base64.b64encode(secrets.token_bytes(32)).decode()
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key + "\n")
        return key_file.read_text().strip()

    def check_safe(self) -> None:
        """Refuse unsafe values outside development."""
        if self.env == "production":
            self.master_key()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
