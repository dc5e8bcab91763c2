"""Pieces several screens share: the aspect row, a marked label, style pages."""

from __future__ import annotations

from collections.abc import Sequence

from locales import Texts

# The aspect buttons users see (phones: 9:16 matters); the engine knows a few more.
ASPECT_CHOICES: tuple[str, ...] = ("1:1", "3:4", "4:3", "9:16", "16:9")
STYLES_PER_PAGE = 8
STYLES_PER_ROW = 2


def marked(texts: Texts, label: str, chosen: bool) -> str:
    return texts.plain("btn-mark", label=label) if chosen else label


def pages(count: int) -> int:
    return max(1, -(-count // STYLES_PER_PAGE))


def page_of(items: Sequence[str], page: int) -> tuple[list[str], int]:
    """The items on a page (the page wraps around), and that page's number."""
    page %= pages(len(items))
    return list(items[page * STYLES_PER_PAGE : (page + 1) * STYLES_PER_PAGE]), page
