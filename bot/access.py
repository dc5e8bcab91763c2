"""Who may use the bot. A corporate bot admits its employees only; a stranger gets a polite refusal.

The configuration is the base: ALLOWED_USER_IDS, ALLOWED_CHAT_IDS (a group admits everyone in it) and
ADMIN_USER_IDS (always admitted). Administrators change it at run time with /allow and /deny; the changes are
kept in the store (Redis when configured, so they survive a restart) and win over the configuration.
With none of the three set the bot is open to everyone and has no administrators (a public demo).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .config import Settings
from .storage import Store

log = logging.getLogger(__name__)
RELOAD_S = 5.0  # storage did not answer at start: ask again no sooner than this


@dataclass(frozen=True)
class AccessLists:
    admins: frozenset[int]
    configured: frozenset[int]  # ALLOWED_USER_IDS | ALLOWED_CHAT_IDS
    added: frozenset[int]  # /allow
    removed: frozenset[int]  # /deny


class AccessPolicy:
    """Checked for every update (middlewares.Access); the lists live in memory, written through to the store."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.admins = settings.admin_user_ids
        self.configured = settings.allowed_user_ids | settings.allowed_chat_ids
        self.restricted = bool(self.configured or self.admins)
        self.added: set[int] = set()
        self.removed: set[int] = set()
        self._loaded = False
        self._next_try = 0.0

    async def load(self) -> bool:
        """Read the run-time changes; False (and the configured lists meanwhile) if storage does not answer."""
        try:
            self.added, self.removed = await self.store.get_access()
        except Exception as error:
            self._next_try = time.monotonic() + RELOAD_S
            log.warning("access changes not loaded (%s); the configured lists apply until storage answers", error)
            return False
        self._loaded = True
        if self.added or self.removed:
            log.info("access changes loaded: %d allowed, %d denied", len(self.added), len(self.removed))
        return True

    async def ensure_loaded(self) -> None:
        if self.restricted and not self._loaded and time.monotonic() >= self._next_try:
            await self.load()

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins

    def allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        if self.is_admin(user_id) or not self.restricted:
            return True
        ids = {i for i in (user_id, chat_id) if i is not None}
        if ids & self.removed:  # a denied user is refused in allowed groups too; a denied group for everyone
            return False
        return bool(ids & (self.configured | self.added))

    async def allow(self, chat_or_user: int) -> None:
        await self.store.set_access(chat_or_user, True)
        self.added.add(chat_or_user)
        self.removed.discard(chat_or_user)
        log.info("access: %s allowed", chat_or_user)

    async def deny(self, chat_or_user: int) -> None:
        await self.store.set_access(chat_or_user, False)
        self.removed.add(chat_or_user)
        self.added.discard(chat_or_user)
        log.info("access: %s denied", chat_or_user)

    def lists(self) -> AccessLists:
        return AccessLists(self.admins, self.configured, frozenset(self.added), frozenset(self.removed))
