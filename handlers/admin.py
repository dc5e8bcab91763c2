"""For ADMIN_USER_IDS only: /stats, and /allow, /deny to change who may use the bot while it runs.

Anyone else sending these commands hears "I don't know this command", as for any unknown one.
"""

from __future__ import annotations

import logging
import time

from aiogram import Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import Message

from bot import reports
from bot.access import AccessPolicy
from bot.config import Settings
from bot.delivery import Delivery
from engine.api import ImageService
from locales import Texts

router = Router(name="admin")
log = logging.getLogger(__name__)


class FromAdmin(Filter):
    async def __call__(self, message: Message, access: AccessPolicy) -> bool:
        return access.is_admin(message.from_user.id if message.from_user else None)


router.message.filter(FromAdmin())


@router.message(Command("stats"))
async def stats(
    message: Message,
    texts: Texts,
    engine: ImageService,
    delivery: Delivery,
    settings: Settings,
    access: AccessPolicy,
    started_at: float,
) -> None:
    limits = {"rate": settings.flood_rate_per_min, "burst": settings.flood_burst, "quota": settings.daily_quota}
    text = reports.stats_text(
        texts,
        engine.stats(),
        engine.health(),
        delivery.in_flight,
        time.monotonic() - started_at,
        limits,
        access.lists(),
    )
    await message.answer(text)


@router.message(Command("allow", "deny"))
async def change_access(message: Message, command: CommandObject, texts: Texts, access: AccessPolicy) -> None:
    target = _chat_or_user(command.args)
    if target is None:
        await message.answer(texts("admin-access-usage") + "\n\n" + reports.access_lists_text(texts, access.lists()))
        return
    allow = command.command == "allow"
    if not allow and access.is_admin(target):
        await message.answer(texts("admin-deny-admin", id=target))
        return
    try:
        await (access.allow(target) if allow else access.deny(target))
    except Exception as error:  # storage down: nothing changed, say so
        log.warning("access change for %s failed: %s", target, error)
        await message.answer(texts("admin-storage-failed"))
        return
    await message.answer(texts("admin-allowed" if allow else "admin-denied", id=target))


def _chat_or_user(args: str | None) -> int | None:
    """A user id, or a group's chat id (negative); None for anything else."""
    text = (args or "").strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value != 0 and abs(value) < 10**16 else None
