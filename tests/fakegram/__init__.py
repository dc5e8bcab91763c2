"""A fake Telegram Bot API server, scripted users and a harness for the real bot process (end-to-end tests)."""

from .objects import FILE_TOO_BIG, NOT_MODIFIED, QUERY_TOO_OLD, ApiError, StoredFile, Upload
from .process import BotProcess, Exit
from .server import DEFAULT_TOKEN, Call, FakeTelegram, Fault
from .users import BotMessage, FakeUser, buttons_of

__all__ = [
    "DEFAULT_TOKEN",
    "FILE_TOO_BIG",
    "NOT_MODIFIED",
    "QUERY_TOO_OLD",
    "ApiError",
    "BotMessage",
    "BotProcess",
    "Call",
    "Exit",
    "FakeTelegram",
    "FakeUser",
    "Fault",
    "StoredFile",
    "Upload",
    "buttons_of",
]
