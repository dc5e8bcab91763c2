"""What the user sees, as (text, keyboard): one function per screen, shared by the handlers and delivery.

Every user text goes through the translator's HTML escaping (parse mode is HTML).
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping

from aiogram.types import InlineKeyboardMarkup

from engine.api import JobResult, JobState, JobStatus, Mode
from keyboards.draft import draft_keyboard
from keyboards.results import results_keyboard
from keyboards.settings import default_style_keyboard, settings_keyboard
from locales import Texts, Translator

from .links import region_links
from .records import JobRecord, Prefs
from .text import short

BAR_CELLS = 10


def style_name(texts: Texts, styles: Mapping, style_id: str | None) -> str:
    style = styles.get(style_id or "")
    return style.name(texts.locale) if style is not None else (style_id or "")


def draft_screen(
    texts: Texts, record: JobRecord, styles: Mapping, default_style: str | None, *, offer_beautify: bool
) -> tuple[str, InlineKeyboardMarkup]:
    if not record.prompt.strip():
        text = texts("draft-no-prompt")
    else:
        key = f"draft-{record.mode}" if texts.has(f"draft-{record.mode}") else "draft-restyle"
        text = texts(key, prompt=short(record.prompt))
    markup = draft_keyboard(
        texts,
        record.id,
        record.mode,
        styles,
        record.page,
        record.beautify,
        record.aspect,
        default_style=record.style or default_style,
        offer_beautify=offer_beautify,
    )
    return text, markup


def status_text(texts: Texts, status: JobStatus | None) -> str:
    if status is None or status.state == JobState.WAITING:
        position = status.position if status else 0
        return texts("status-waiting", position=position) if position > 0 else texts("status-starting")
    if status.state == JobState.RUNNING:
        total = max(status.total_steps, 1)
        done = min(max(status.step, 0), total)
        cells = round(BAR_CELLS * done / total)
        return texts("status-running", percent=round(100 * done / total), bar="▰" * cells + "▱" * (BAR_CELLS - cells))
    return end_text(texts, status)


def end_text(texts: Texts, status: JobStatus) -> str:
    if status.state == JobState.CANCELLED and status.error in (None, "cancelled"):
        return texts("status-cancelled")
    return error_text(texts, status.error or "internal")


def error_text(texts: Texts, code: str) -> str:
    key = f"error-{code}"
    return texts(key) if texts.has(key) else texts("error-internal")


def caption(texts: Texts, record: JobRecord, result: JobResult, styles: Mapping) -> str:
    lines = []
    balance = "/".join(str(round(w * 100)) for w in record.weights) if record.weights else ""
    mode_line = texts(f"mode-{record.mode}", balance=balance) if texts.has(f"mode-{record.mode}") else ""
    if mode_line:
        lines.append(mode_line)
    if record.instruction.strip():  # an edit: what was asked, before the prompt it changed
        lines.append(texts("caption-instruction", instruction=short(record.instruction)))
    if result.prompt.strip():
        lines.append(f"<b>{html.escape(short(result.prompt), quote=False)}</b>")
    seeds = ", ".join(str(picture.seed) for picture in result.pictures)
    lines.append(texts("caption-meta", style=style_name(texts, styles, result.style), seeds=seeds))
    return "\n".join(lines)


def results_screen(
    texts: Texts, record: JobRecord, modes: Collection[Mode], public_url: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    """public_url: where the Mini App is served (PUBLIC_URL); "" = no 🖌 Region button."""
    region = region_links(public_url, record)
    markup = results_keyboard(texts, record.id, record.mode, len(record.pictures), modes, record.weights, region)
    return texts("results-text"), markup


def settings_screen(
    texts: Texts,
    translator: Translator,
    user: int,
    prefs: Prefs,
    styles: Mapping,
    default_style: str,
    *,
    offer_beautify: bool,
) -> tuple[str, InlineKeyboardMarkup]:
    """offer_beautify: whether prompt improvement is shown at all (without a prompt LLM a stored "on" means nothing)."""
    style = style_name(texts, styles, prefs.style or default_style)
    text = texts(
        "settings-text", language=texts.plain("language-name"), style=style, aspect=prefs.aspect, count=prefs.count
    )
    if offer_beautify:
        text += "\n" + texts("settings-beautify", state=texts.plain("word-on" if prefs.beautify else "word-off"))
    markup = settings_keyboard(
        texts,
        translator,
        user,
        texts.locale,
        style,
        prefs.aspect,
        prefs.count,
        prefs.beautify,
        offer_beautify=offer_beautify,
    )
    return text, markup


def styles_screen(
    texts: Texts, user: int, prefs: Prefs, styles: Mapping, default_style: str, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    current = prefs.style or default_style
    text = texts("styles-text", style=style_name(texts, styles, current))
    return text, default_style_keyboard(texts, user, styles, page, current)
