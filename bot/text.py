"""A user's text as a prompt: cleaned on arrival, and shortened for captions and screens."""

from __future__ import annotations

import unicodedata

from engine.api import MAX_PROMPT_CHARS, one_line

# Characters a prompt loses: controls (C0/C1, DEL) and invisible format characters (zero-width space, bidi
# marks and overrides, BOM, soft hyphen, word joiner...). ZWJ (U+200D, emoji sequences) and ZWNJ stay.
KEPT_FORMAT = {"\u200c", "\u200d"}
# Letters and symbols that draw nothing: people send them to make a message look empty (Hangul fillers, braille blank).
BLANKS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
CAPTION_PROMPT_CHARS = 700  # a caption holds 1024 characters; the style and seeds need the rest


def clean_prompt(text: str) -> tuple[str, bool]:
    """The prompt as the engine gets it: one line, controls and invisible characters dropped, cut to the engine's
    limit at a word boundary. Returns (prompt, whether it was cut); "" means there is nothing to draw."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or char in BLANKS:
            kept.append(" ")  # newlines, tabs, NUL, escapes, blank letters: a separator at most
        elif category != "Cf" or char in KEPT_FORMAT:
            kept.append(char)
    prompt = one_line("".join(kept))
    if not any(unicodedata.category(char)[0] in "LNPS" for char in prompt):
        return "", False  # only spaces, joiners or combining marks
    if len(prompt) <= MAX_PROMPT_CHARS:
        return prompt, False
    cut = prompt[:MAX_PROMPT_CHARS]
    if cut.rfind(" ") > MAX_PROMPT_CHARS * 0.8:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(), True


def short(prompt: str, limit: int = CAPTION_PROMPT_CHARS) -> str:
    """The prompt on one line, cut with an ellipsis past `limit` characters."""
    prompt = one_line(prompt)
    return prompt if len(prompt) <= limit else prompt[: limit - 1].rstrip() + "…"
