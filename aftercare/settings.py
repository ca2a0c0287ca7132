"""One typed Settings object, read from the environment (names documented in README.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

import msgspec

ENV_PREFIX = "AFTERCARE_"
# How long a survey link takes answers after the case closes.
DEFAULT_SURVEY_LINK_DAYS = 28.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that differs between the embedded demo and production."""

    # sqlite:///path/to/file.sqlite or postgresql://user@host:5432/db
    database_url: str = "sqlite:///var/aftercare.sqlite"
    # stub:// (in-process), amqp://guest:guest@host:5672/%2F or redis://host:6379/0
    broker_url: str = "stub://"
    # Run a dramatiq.Worker inside the web process; "auto" means: only with the stub broker.
    embedded_worker: Literal["auto", "on", "off"] = "auto"
    api_token: str = ""
    # Signs the web pages' CSRF tokens; every API process must share it (generated when empty).
    secret_key: str = ""
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = "var"
    follow_up_sla_hours: float = 24.0
    survey_link_days: float = DEFAULT_SURVEY_LINK_DAYS
    fallback_owner_email: str = ""
    negative_sentiment_threshold: float = 0.6
    comment_max_chars: int = 5000
    # A response still pending analysis after this long is re-sent to the workers.
    analysis_sweep_after_seconds: float = 60.0
    # After this many requests for one response, its scores alone decide (a poisoned text).
    analysis_max_attempts: int = 5
    housekeeping_interval_seconds: float = 2.0
    # /ready answers 503 when no housekeeping round has succeeded for this long (and a round
    # that runs longer is cancelled).
    housekeeping_stale_after_seconds: float = 60.0
    analysis_batch_size: int = 32
    # How long a new response waits for others to share its model pass.
    analysis_batch_wait_ms: float = 100.0
    # Theme discovery: how often it runs (0 switches it off) and how far back it looks.
    discovery_interval_hours: float = 24.0
    discovery_window_days: float = 30.0
    # Mail to owners and leads: smtp://host:port, smtps://, smtp+starttls:// (user:password@
    # optional). Empty: messages are only kept in the database (shown at /admin/mail).
    smtp_url: str = ""
    mail_from: str = "Aftercare <aftercare@localhost>"
    # A message the mail server did not take is tried this often, waiting twice as long each
    # time from the first wait.
    mail_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    mail_retry_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # How often the overdue job runs (one process claims each run), and from which hour (UTC)
    # owners get their morning digest of overdue tasks.
    overdue_check_interval_seconds: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    digest_hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 8
    log_level: str = "INFO"
    # PostgreSQL connections per process and event loop (the API's, the workers').
    database_pool_size: int = 10
    # Run the sentiment model's Linear layers in int8: faster on CPU, slightly different labels.
    sentiment_int8: bool = False
    # CPU threads per process for the models; 0 keeps torch's default (one per core).
    torch_threads: int = 0

    @property
    def broker_kind(self) -> Literal["stub", "rabbitmq", "redis"]:
        scheme = self.broker_url.split(":", 1)[0]
        if scheme == "stub":
            return "stub"
        if scheme in ("amqp", "amqps"):
            return "rabbitmq"
        if scheme in ("redis", "rediss"):
            return "redis"
        raise SettingsError(
            f"AFTERCARE_BROKER_URL: unknown scheme {scheme!r} (use stub, amqp or redis)"
        )

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker == "auto":
            return self.broker_kind == "stub"
        return self.embedded_worker == "on"


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


def setting_env_names() -> dict[str, str]:
    """Map each environment variable name to its Settings field."""
    return {ENV_PREFIX + field.upper(): field for field in Settings.__struct_fields__}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read Settings from AFTERCARE_* environment variables, with defaults for the demo."""
    environ = dict(os.environ if environ is None else environ)
    raw = {field: environ[name] for name, field in setting_env_names().items() if name in environ}
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise SettingsError(f"invalid setting: {error}") from error
    settings.broker_kind  # noqa: B018 - validates the scheme early
    # Imported here: the mail channel module depends on this one.
    from aftercare.mail import mail_channel

    mail_channel(settings.smtp_url, settings.mail_from)  # validates the mail settings early
    if not settings.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(
            "AFTERCARE_DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got {settings.database_url!r})"
        )
    return settings


def with_api_token(settings: Settings) -> Settings:
    """Settings whose API token is set: from the environment, else the embedded default's."""
    if settings.api_token:
        return settings
    token = stored_secret(settings.data_dir, "api-token", nbytes=24)
    return msgspec.structs.replace(settings, api_token=token)


def with_secret_key(settings: Settings) -> Settings:
    """Settings whose secret key is set: from the environment, else the embedded default's."""
    if settings.secret_key:
        return settings
    key = stored_secret(settings.data_dir, "secret-key", nbytes=32)
    return msgspec.structs.replace(settings, secret_key=key)


def stored_secret(data_dir: str, name: str, *, nbytes: int) -> str:
    """A secret of the embedded default: generated once and kept in the data directory."""
    path = Path(data_dir) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(nbytes)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret
