"""All configuration in one pydantic-settings tree; nothing else reads os.environ.

Names are a contract (README): BOT_TOKEN, TELEGRAM_API_URL, REDIS_URL, ALLOWED_USER_IDS, ADMIN_USER_IDS,
DEFAULT_LOCALE, MESSENGER, MAX_TOKEN, MAX_API_URL, MAX_ALLOWED_USER_IDS, MAX_ADMIN_USER_IDS, and the engine's
ENGINE_* (engine/settings.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.settings import EngineSettings

IdSet = Annotated[frozenset[int], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_token: SecretStr = SecretStr("")  # required with MESSENGER=telegram (settings_or_explain)
    telegram_api_url: str = "https://api.telegram.org"
    redis_url: str = ""  # empty = memory (FSM and job records are lost on restart)

    # Access: empty allow-lists = everyone may use the bot (a public demo); set them for a corporate bot.
    allowed_user_ids: IdSet = frozenset()
    allowed_chat_ids: IdSet = frozenset()
    admin_user_ids: IdSet = frozenset()
    default_locale: Literal["en", "ru"] = "ru"

    # Run mode: long polling by default; webhook when WEBHOOK_URL is set.
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080

    job_ttl_s: int = Field(7 * 24 * 3600, ge=60)  # how long buttons under a result keep working
    picture_dir: Path = Path("pictures")  # with Redis: the pictures behind the buttons, as files (bot/pictures.py)
    flood_rate_per_min: int = Field(30, ge=1)  # messages + button presses per user per minute
    flood_burst: int = Field(20, ge=1)  # ... of which this many at once (quick taps through /settings)
    daily_quota: int = Field(0, ge=0)  # pictures-requests per user per day; 0 = unlimited
    quota_time_zone: str = "Europe/Moscow"  # the day of the daily quota ends at this zone's midnight (IANA name)
    # Bot API 10.x features, where the Bot API server speaks them: pictures and their buttons as one rich message
    # (sendRichMessage, 10.3) instead of an album and a reply; refusals in groups seen by their user only (10.2).
    rich_messages: bool = False
    ephemeral_messages: bool = False
    shutdown_drain_s: float = Field(60.0, ge=0)  # SIGTERM: how long the running job may finish
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, for a log collector

    # /metrics, /healthz, /readyz: on the webhook server in webhook mode, else on this port (0 = no server).
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)

    # The Mini App (🖌 Region): its public HTTPS address, served by the server above ("" = no button).
    public_url: str = ""
    webapp_max_age_s: int = Field(3600, ge=60)  # how old Telegram's signed initData may be

    engine: EngineSettings = Field(default_factory=EngineSettings)

    # MAX (docs/MESSENGERS.md): the same bot on MAX instead of Telegram. MAX user ids are not Telegram's: each
    # messenger has its own access lists, and with MESSENGER=max the MAX_* ones are the ones that apply.
    messenger: Literal["telegram", "max"] = "telegram"
    max_token: SecretStr = SecretStr("")
    max_api_url: str = "https://platform-api.max.ru"
    max_allowed_user_ids: IdSet = frozenset()
    max_allowed_chat_ids: IdSet = frozenset()
    max_admin_user_ids: IdSet = frozenset()

    @field_validator("quota_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a time zone name (IANA, like Europe/Moscow or UTC)") from None
        return value

    @field_validator(
        "allowed_user_ids", "allowed_chat_ids", "admin_user_ids",
        "max_allowed_user_ids", "max_allowed_chat_ids", "max_admin_user_ids", mode="before",
    )  # fmt: skip
    @classmethod
    def _ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
        if isinstance(value, int):
            return frozenset({value})
        return value

    @model_validator(mode="after")
    def _lists_of_the_messenger(self) -> Settings:
        """On MAX the access lists are the MAX ones: everything downstream (access, admins, quota) reads these."""
        if self.messenger == "max":
            self.allowed_user_ids = self.max_allowed_user_ids
            self.allowed_chat_ids = self.max_allowed_chat_ids
            self.admin_user_ids = self.max_admin_user_ids
        return self


class StartupError(Exception):
    """The bot cannot start as configured; the message says what to set, and where."""


def settings_or_explain() -> Settings:
    """The settings, or a StartupError naming each setting that is missing or wrong (no pydantic traceback)."""
    try:
        settings = Settings()
    except ValidationError as error:
        lines = []
        prefix = "ENGINE_" if error.title == "EngineSettings" else ""  # the engine's own settings tree
        for problem in error.errors():
            name = prefix + "_".join(str(part) for part in problem["loc"]).upper()
            if name == "BOT_TOKEN" and problem["type"] == "missing":
                lines.append(
                    "BOT_TOKEN is not set: put BOT_TOKEN=<the token @BotFather gave you> in .env next to README.md, "
                    "or in the environment"
                )
            else:
                lines.append(f"{name}: {problem['msg']} (got {problem.get('input')!r})")
        raise StartupError("; ".join(lines)) from None
    if settings.messenger == "telegram" and not settings.bot_token.get_secret_value():
        raise StartupError(
            "BOT_TOKEN is not set: put BOT_TOKEN=<the token @BotFather gave you> in .env next to README.md, "
            "or in the environment"
        )
    if settings.messenger == "max" and not settings.max_token.get_secret_value():
        raise StartupError(
            "MAX_TOKEN is not set: put MAX_TOKEN=<the token @MasterBot gave you> in .env next to README.md, "
            "or in the environment"
        )
    if settings.messenger == "max" and settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value()
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{5,256}", secret):
            raise StartupError("WEBHOOK_SECRET: MAX takes 5-256 characters of A-Z, a-z, 0-9, _ and - only")
        if not settings.webhook_url.startswith("https://"):
            raise StartupError("WEBHOOK_URL: MAX delivers to an https:// URL (port 443) only")
    return settings
