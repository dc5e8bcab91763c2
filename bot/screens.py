"""What the user sees, as (text, keyboard): one function per screen, shared by the handlers and delivery.

Every user text goes through the translator's HTML escaping (parse mode is HTML).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection, Mapping

from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputRichBlockCollage,
    InputRichBlockParagraph,
    InputRichBlockPhoto,
    InputRichBlockUnion,
    InputRichMessage,
    RichTextBold,
)

from engine.api import ASPECTS, MAX_COUNT, JobResult, JobState, JobStatus, Mode, Picture, one_line
from keyboards.draft import draft_keyboard
from keyboards.results import results_keyboard
from keyboards.settings import default_style_keyboard, settings_keyboard
from locales import Texts, Translator

from .links import region_links
from .params import MAX_SEED, BadParameter
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
        tags=_tags(styles, record.style or default_style),
        chosen_tags=record.tags,
    )
    return text, markup


def _tags(styles: Mapping, style_id: str | None) -> tuple:
    """The prompt tags a style offers (the global ones first); () for an unknown style."""
    style = styles.get(style_id or "")
    return tuple(style.tags) if style is not None else ()


def status_text(texts: Texts, status: JobStatus | None) -> str:
    if status is None or status.state == JobState.WAITING:
        position = status.position if status else 0
        return texts("status-waiting", position=position) if position > 0 else texts("status-starting")
    if status.state == JobState.RUNNING:
        percent, bar = progress(status)
        return texts("status-running", percent=percent, bar=bar)
    return end_text(texts, status)


def progress(status: JobStatus) -> tuple[int, str]:
    """A running job's percent done, and as a bar."""
    total = max(status.total_steps, 1)
    done = min(max(status.step, 0), total)
    cells = round(BAR_CELLS * done / total)
    return round(100 * done / total), "▰" * cells + "▱" * (BAR_CELLS - cells)


def help_text(texts: Texts, count: int, describes: bool) -> str:
    """/help: how it works and the commands; /describe only where a captioning model is configured (as the menu)."""
    text = texts("help", pictures=texts.plain("n-pictures", count=count))
    return f"{text}\n{texts('help-describe')}" if describes else text


def end_text(texts: Texts, status: JobStatus) -> str:
    if status.state == JobState.CANCELLED and status.error in (None, "cancelled"):
        return texts("status-cancelled")
    return error_text(texts, status.error or "internal")


def error_text(texts: Texts, code: str, **values: object) -> str:
    """The message for an error code; `values` fill what its text names (the daily limit and its reset)."""
    key = f"error-{code}"
    return texts(key, **values) if texts.has(key) else texts("error-internal")


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
    if record.params:
        lines.append(texts("caption-params", params=record.params))
    seeds = ", ".join(str(picture.seed) for picture in result.pictures)
    lines.append(texts("caption-meta", style=style_name(texts, styles, result.style), seeds=seeds))
    chosen = [tag for tag in _tags(styles, result.style) if tag.id in record.tags]
    if chosen:
        labels = ", ".join(html.escape(tag.label(texts.locale), quote=False) for tag in chosen)
        lines.append(texts("caption-tags", tags=labels))
    return "\n".join(lines)


def parameter_error(texts: Texts, bad: BadParameter) -> str:
    """What is wrong with a parameter typed after a prompt, naming it and what it may be."""
    return texts(
        f"params-{bad.problem}",
        name=bad.name,
        value=short(bad.value, 60),
        choices=", ".join(ASPECTS),
        most=MAX_COUNT if bad.problem == "count" else MAX_SEED,
    )


def results_screen(
    texts: Texts, record: JobRecord, modes: Collection[Mode], public_url: str = "", styles: Mapping | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """public_url: where the Mini App is served (PUBLIC_URL); "" = no 🖌 Region button. `styles`: for the prompt
    tag toggles of the result's style (none without it)."""
    region = region_links(public_url, record)
    tags = _tags(styles, record.result_style or record.style) if styles is not None else ()
    markup = results_keyboard(
        texts,
        record.id,
        record.mode,
        len(record.pictures),
        modes,
        record.weights,
        record.favourite,
        region,
        tags=tags,
        chosen_tags=record.tags,
    )
    return texts("results-text"), markup


def info_text(texts: Texts, record: JobRecord, picture: int, styles: Mapping) -> str:
    """ℹ: how picture `picture` (1-based) was made: the prompt as typed and as the model saw it, the negative
    prompt, its seed and style, and its size."""
    kept = record.pictures[picture - 1]
    lines = [texts("info-title", n=picture), texts("info-prompt", prompt=short(record.prompt) or "—")]
    if record.final_prompt and one_line(record.final_prompt) != one_line(record.prompt):
        lines.append(texts("info-final-prompt", prompt=short(record.final_prompt)))
    lines.append(texts("info-negative", negative=short(record.final_negative or record.negative) or "—"))
    lines.append(texts("info-seed", seed=kept.seed))
    lines.append(texts("info-style", style=style_name(texts, styles, record.result_style or record.style)))
    lines.append(texts("info-size", width=kept.width, height=kept.height))
    return "\n".join(lines)


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
    text += "\n" + _drawing_line(texts, prefs, style)
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
        ask_style=prefs.ask_style,
        preview=prefs.preview,
    )
    return text, markup


def _drawing_line(texts: Texts, prefs: Prefs, style: str) -> str:
    """What a prompt does: drawn at once in the default style, or its style screen first (and why)."""
    if prefs.ask_style:
        return texts("settings-asks-style")
    if prefs.style is None:
        return texts("settings-no-default-style")
    return texts("settings-draws-at-once", style=style)


def styles_screen(
    texts: Texts, user: int, prefs: Prefs, styles: Mapping, default_style: str, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    current = prefs.style or default_style
    text = texts("styles-text", style=style_name(texts, styles, current))
    return text, default_style_keyboard(texts, user, styles, page, current)


def shelf_caption(texts: Texts, starred: bool, records: list[JobRecord], page: int, pages: int, styles: Mapping) -> str:
    """The caption of a /history or /favorites page: a line per numbered picture of the collage."""
    lines = [texts("favorites-title" if starred else "history-title", page=page + 1, pages=pages)]
    for n, record in enumerate(records, start=1):
        what = short(record.prompt, 60) or texts.plain(f"mode-{record.mode}") or "—"
        star = "⭐ " if record.favourite and not starred else ""
        lines.append(
            texts("shelf-line", n=n, star=star, prompt=what, style=style_name(texts, styles, record.result_style))
        )
    return "\n".join(lines)


def rich_results(
    texts: Texts,
    record: JobRecord,
    result: JobResult,
    styles: Mapping,
    under: str,
    photo: Callable[[Picture], BufferedInputFile],
) -> InputRichMessage:
    """The pictures, their caption and the "what next" line as one rich message (Bot API 10.3): a collage of the
    pictures (one picture: a photo block), then a paragraph per caption line (the prompt in bold)."""
    pictures: list[InputRichBlockUnion] = [
        InputRichBlockPhoto(photo=InputMediaPhoto(media=photo(picture))) for picture in result.pictures
    ]
    blocks: list[InputRichBlockUnion] = [InputRichBlockCollage(blocks=pictures) if len(pictures) > 1 else pictures[0]]
    for line in [*caption(texts, record, result, styles).split("\n"), under]:
        plain = _plain(line)
        bold = line.startswith("<b>") and line.endswith("</b>")
        blocks.append(InputRichBlockParagraph(text=RichTextBold(text=plain) if bold else plain))
    return InputRichMessage(blocks=blocks)


def _plain(line: str) -> str:
    """The text of one line of our HTML, as a rich message's plain text (tags dropped, entities read)."""
    return html.unescape(re.sub(r"<[^>]+>", "", line))
