"""Every keyboard's buttons fit Telegram's limits: callback data ≤ 64 bytes, rows that fit a phone."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardMarkup

from engine.styles import Style, load_styles
from keyboards.callbacks import (
    DraftAct,
    DraftCb,
    ResultAct,
    ResultCb,
    SettingsAct,
    SettingsCb,
    pack_value,
    unpack_value,
)
from keyboards.describe import described_keyboard
from keyboards.draft import draft_keyboard
from keyboards.jobs import in_progress_keyboard
from keyboards.photos import mix_keyboard, photo_keyboard
from keyboards.results import pick_keyboard, results_keyboard, strong_keyboard, zoom_keyboard
from keyboards.settings import default_style_keyboard, settings_keyboard
from keyboards.start import examples_keyboard
from locales import LOCALES, Translator

JOB = "Ab3_-xY9"  # new_job_id(): 8 characters
USER = 9_999_999_999  # Telegram user ids have up to 10 digits (52 bits)
ALL_MODES = frozenset({"generate", "restyle", "vary", "reimagine", "mix", "remix", "photo_prompt", "upscale", "zoom"})
LONG_ID = "a-long-style-id-from-admins"
translator = Translator("en")


def styles() -> dict[str, Style]:
    found = load_styles()
    found[LONG_ID] = Style(id=LONG_ID, names={"en": "Long", "ru": "Длинный"})
    return found


def every_keyboard(locale: str) -> list[InlineKeyboardMarkup]:
    texts = translator[locale]
    catalog = styles()
    boards = [examples_keyboard(texts), in_progress_keyboard(texts, JOB)]
    for mode in ("generate", "restyle", "remix", "photo_prompt"):
        for page in (0, 1, 5):
            boards.append(
                draft_keyboard(
                    texts, JOB, mode, catalog, page, True, "16:9", default_style=LONG_ID, offer_beautify=True
                )
            )
    for mode in sorted(ALL_MODES):
        for count in (1, 4):
            boards.append(results_keyboard(texts, JOB, mode, count, ALL_MODES, (0.3, 0.7)))
    boards += [
        strong_keyboard(texts, JOB, 4),
        pick_keyboard(texts, JOB, 4, ResultAct.ZOOM_PICK),
        pick_keyboard(texts, JOB, 4, ResultAct.REMIX),
    ]
    boards += [zoom_keyboard(texts, JOB, 4), photo_keyboard(texts, JOB, ALL_MODES), mix_keyboard(texts, JOB, ALL_MODES)]
    boards += [
        photo_keyboard(texts, JOB, ALL_MODES, describes=True),
        described_keyboard([(JOB, "a long prompt " * 9)] * 3),
    ]
    boards.append(
        settings_keyboard(texts, translator, USER, locale, "Watercolor", "9:16", 4, True, offer_beautify=True)
    )
    for page in (0, 1):
        boards.append(default_style_keyboard(texts, USER, catalog, page, LONG_ID))
    return boards


@pytest.mark.parametrize("locale", LOCALES)
def test_callback_data_fits_64_bytes_and_labels_are_plain(locale: str):
    for board in every_keyboard(locale):
        for row in board.inline_keyboard:
            for button in row:
                assert button.callback_data, button.text
                assert 1 <= len(button.callback_data.encode()) <= 64, button.callback_data
                assert "<" not in button.text and "&amp;" not in button.text


@pytest.mark.parametrize("locale", LOCALES)
def test_rows_fit_a_phone_screen(locale: str):
    for board in every_keyboard(locale):
        for row in board.inline_keyboard:
            labels = [button.text for button in row]
            assert len(row) <= 5
            # About 36 characters fit across a phone; a lone button may be longer (Telegram wraps it).
            assert sum(map(len, labels)) <= (36 if len(row) > 1 else 60), labels


def test_results_keyboard_hides_what_the_engine_cannot_do():
    texts = translator["en"]
    board = results_keyboard(texts, JOB, "generate", 4, {"generate", "restyle"})
    labels = [button.text for row in board.inline_keyboard for button in row]
    assert labels == ["🔄", "🎨 Style", "⬇ PNG", "ℹ", "☆ Favourite"], "keeping a picture needs no engine mode"
    full = results_keyboard(texts, JOB, "generate", 4, ALL_MODES)
    rows = [[button.text for button in row] for row in full.inline_keyboard]
    assert rows[0] == ["V1", "V2", "V3", "V4"] and rows[1] == ["4K 1", "4K 2", "4K 3", "4K 4"]
    assert photo_keyboard(texts, JOB, {"generate"}).inline_keyboard == []
    described = photo_keyboard(texts, JOB, {"generate"}, describes=True)  # a captioning model is configured
    assert [button.text for row in described.inline_keyboard for button in row] == ["💬 Describe"]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_choice_under_a_photo_has_its_own_emoji(locale: str):
    every = set(ALL_MODES) | {"edit", "inpaint"}
    board = photo_keyboard(translator[locale], JOB, every, region_url=lambda picture: "https://x", describes=True)
    emoji = [button.text.split()[0] for row in board.inline_keyboard for button in row]
    assert len(emoji) == 8 and len(set(emoji)) == len(emoji), emoji  # 📝 Photo + text, 💬 Describe


def test_the_improve_toggle_shows_only_where_the_server_can_improve_prompts():
    texts = translator["en"]

    def labels(board: InlineKeyboardMarkup) -> list[str]:
        return [button.text for row in board.inline_keyboard for button in row]

    for offer in (True, False):
        draft = draft_keyboard(texts, JOB, "generate", styles(), 0, True, "1:1", offer_beautify=offer)
        settings = settings_keyboard(texts, translator, USER, "en", "Anime", "1:1", 4, True, offer_beautify=offer)
        assert ("✨ Improve prompt: on" in labels(draft)) == offer
        assert ("✨ Improve prompts: on" in labels(settings)) == offer
        assert labels(draft)[-1] == "✖ Close"


def test_values_with_colons_survive_the_round_trip():
    packed = DraftCb(job=JOB, act=DraftAct.ASPECT, aspect=pack_value("16:9")).pack()
    assert unpack_value(DraftCb.unpack(packed).aspect) == "16:9"
    assert ResultCb.unpack(ResultCb(job=JOB, act=ResultAct.EXTEND, pic=2, aspect=pack_value("9:16")).pack()).pic == 2
    assert SettingsCb.unpack(SettingsCb(user=USER, act=SettingsAct.COUNT, count=4).pack()).user == USER


def test_a_style_screen_sent_before_tags_existed_still_unpacks():
    """Buttons stay in chats for weeks: the callback data of an older version must still be read."""
    from keyboards.callbacks import DraftAct, DraftCb, ResultAct, ResultCb

    old = DraftCb.unpack("d:Zz0Zz0Zz:style:none:0:")
    assert (old.job, old.act, old.style, old.tag) == ("Zz0Zz0Zz", DraftAct.STYLE, "none", "")
    assert DraftCb.unpack(DraftCb(job="a", act=DraftAct.TAG, tag="t").pack()).tag == "t"
    vary = ResultCb.unpack("r:Zz0Zz0Zz:vary:1:::0")
    assert (vary.act, vary.pic, vary.tag) == (ResultAct.VARY, 1, "")
