"""The MAX adapter: the same aiogram bot, its Bot API calls carried to MAX (docs/MESSENGERS.md)."""

from .api import MaxApi, MaxError
from .ids import IdMap, open_ids
from .session import MaxSession

__all__ = ["IdMap", "MaxApi", "MaxError", "MaxSession", "open_ids"]
