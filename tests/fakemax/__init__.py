"""A fake MAX Bot API server and scripted MAX users, for end-to-end tests of the bot with MESSENGER=max."""

from .server import BOT_ID, DEFAULT_TOKEN, Call, FakeMax
from .users import MaxUser, Sent

__all__ = ["BOT_ID", "DEFAULT_TOKEN", "Call", "FakeMax", "MaxUser", "Sent"]
