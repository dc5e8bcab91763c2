"""What the messenger the bot runs on can show. A screen asks here before it offers something only one messenger
has, instead of asking which messenger it is (MESSENGER=telegram|max): one flag per feature, decided once.

Injected into the handlers as `caps` (Dispatcher workflow data).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    messenger: str
    web_app_buttons: bool  # a Mini App behind an inline button
    spoilers: bool  # <tg-spoiler> text and hidden media
    rich_messages: bool  # sendRichMessage: a collage and buttons on one message
    ephemeral_messages: bool  # a message in a group only one member sees
    albums: bool  # sendMediaGroup as Telegram's album (on MAX: one message with several images)
    chat_menu: bool  # setMyCommands from the bot (MAX: set in @MasterBot)
    text_limit: int
    image_side: int  # the longest side an image may have to be sent as a picture, not as a file


TELEGRAM = Capabilities(
    messenger="telegram",
    web_app_buttons=True,
    spoilers=True,
    rich_messages=True,
    ephemeral_messages=True,
    albums=True,
    chat_menu=True,
    text_limit=4096,
    image_side=10000,
)
MAX = Capabilities(
    messenger="max",
    web_app_buttons=False,
    spoilers=False,
    rich_messages=False,
    ephemeral_messages=False,
    albums=False,
    chat_menu=False,
    text_limit=4000,
    image_side=7680,
)


def capabilities(messenger: str) -> Capabilities:
    return MAX if messenger == "max" else TELEGRAM
