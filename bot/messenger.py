"""The Bot for the messenger the settings name (MESSENGER): Telegram's Bot API, or MAX through bot/max/."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.webhook.aiohttp_server import SimpleRequestHandler

from .config import Settings

# aiogram wants a token shaped like Telegram's; on MAX it is never sent anywhere (MaxSession has its own).
MAX_STAND_IN_TOKEN = "1000000:max-adapter"


def make_bot(settings: Settings) -> Bot:
    default = DefaultBotProperties(parse_mode=ParseMode.HTML)
    if settings.messenger == "max":
        from .max import MaxApi, MaxSession, open_ids

        api = MaxApi(settings.max_token.get_secret_value(), settings.max_api_url)
        session = MaxSession(api, open_ids(settings.redis_url, settings.job_ttl_s))
        return Bot(MAX_STAND_IN_TOKEN, session=session, default=default)
    telegram = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(settings.bot_token.get_secret_value(), session=telegram, default=default)


def webhook_handler(messenger: str) -> type[SimpleRequestHandler]:
    """What receives the webhook's POSTs: aiogram's own for Telegram, MaxWebhook for MAX's Update."""
    if messenger == "max":
        from .max.webhook import MaxWebhook

        return MaxWebhook
    return SimpleRequestHandler
