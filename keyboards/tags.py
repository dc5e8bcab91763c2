"""Prompt tags as toggle buttons ("+ white background", "− text"), on the style screen and under results.

A tag is engine data (engine.styles.Tag: id, names, fragment, prompt or negative side); a chosen one is marked.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from engine.styles import Tag
from locales import Texts

from .common import marked

TAGS_PER_ROW = 2


def add_tag_rows(
    builder: InlineKeyboardBuilder,
    texts: Texts,
    tags: Sequence[Tag],
    chosen: Collection[str],
    callback: Callable[[str], str],
) -> None:
    """Rows of tag toggles; `callback(tag_id)` is the packed callback data of a tap on that tag."""
    buttons = [
        InlineKeyboardButton(
            text=marked(texts, tag.label(texts.locale), tag.id in chosen), callback_data=callback(tag.id)
        )
        for tag in tags
    ]
    for start in range(0, len(buttons), TAGS_PER_ROW):
        builder.row(*buttons[start : start + TAGS_PER_ROW])


def toggled(chosen: Sequence[str], tag: str) -> list[str]:
    """The chosen tags with `tag` switched (kept in the order they were chosen)."""
    return [t for t in chosen if t != tag] if tag in chosen else [*chosen, tag]
