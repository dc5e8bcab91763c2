"""✏️ Edit and 🖌 Region under results: the Mini App button only where it can work (PUBLIC_URL set, a private chat,
the engine serving inpaint), one picture opens at once, several are picked first; a phone-sized row."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from bot.links import region_links, region_url
from bot.records import JobRecord, Kind, PictureRecord
from bot.screens import results_screen
from engine.api import Mode
from keyboards.photos import photo_keyboard
from keyboards.results import region_keyboard
from locales import Translator

TEXTS = Translator("en")["en"]
MODES = frozenset(Mode)
PUBLIC = "https://easel.example.org/bot/"


def labels(markup) -> list[str]:
    return [button.text for row in markup.inline_keyboard for button in row]


def web_apps(markup) -> list[str]:
    return [button.web_app.url for row in markup.inline_keyboard for button in row if button.web_app]


def done(count: int, chat_id: int = 7) -> JobRecord:
    record = JobRecord(id="Ab3_-xY9", owner=7, chat_id=chat_id)
    record.pictures = [PictureRecord(seed=n, width=512, height=512) for n in range(count)]
    return record


def test_the_link_names_the_job_and_picture_under_the_public_address():
    link = urlparse(region_url(PUBLIC, "Ab3_-xY9", 2))
    assert (link.scheme, link.netloc, link.path) == ("https", "easel.example.org", "/bot/app/region")
    assert parse_qs(link.query) == {"job": ["Ab3_-xY9"], "pic": ["2"]}


def test_without_public_url_or_in_a_group_there_is_no_region_button():
    for record, public in ((done(1), ""), (done(1, chat_id=-100123), PUBLIC)):
        _, markup = results_screen(TEXTS, record, MODES, public)
        assert "✏️ Edit" in labels(markup) and "🖌 Region" not in labels(markup) and not web_apps(markup)
    assert region_links("", done(1)) is None


def test_one_picture_opens_the_mini_app_at_once_several_are_picked_first():
    _, one = results_screen(TEXTS, done(1), MODES, PUBLIC)
    assert web_apps(one) == [region_url(PUBLIC, "Ab3_-xY9", 1)]
    _, four = results_screen(TEXTS, done(4), MODES, PUBLIC)
    assert "🖌 Region" in labels(four) and not web_apps(four)
    links = region_links(PUBLIC, done(4))
    assert links is not None
    picker = region_keyboard(TEXTS, "Ab3_-xY9", 4, links)
    assert len(web_apps(picker)) == 4 and labels(picker)[-1] == "« Back"


def test_no_edit_buttons_where_the_engine_has_no_such_mode():
    _, markup = results_screen(TEXTS, done(1), MODES - {Mode.EDIT, Mode.INPAINT}, PUBLIC)
    assert "✏️ Edit" not in labels(markup) and not web_apps(markup)


def test_a_photo_of_the_users_offers_edit_and_region():
    photo = JobRecord(id="Ab3_-xY9", owner=7, chat_id=7, kind=Kind.PHOTO, source_file_ids=["f"])
    markup = photo_keyboard(TEXTS, photo.id, MODES, region_links(PUBLIC, photo))
    assert "✏️ Edit by instruction" in labels(markup)
    assert web_apps(markup) == [region_url(PUBLIC, photo.id, 0)]
    assert not web_apps(photo_keyboard(TEXTS, photo.id, MODES))
