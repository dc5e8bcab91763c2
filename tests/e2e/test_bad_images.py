"""A user sends every file of the hostile corpus (tests/corpus.py): a usable picture gets the photo choices, anything
else a specific answer in the user's language, at once (checked on arrival, not after a button press); and the same
user's next prompt still works.
"""

from __future__ import annotations

import io
import itertools

import pytest
from corpus import Case, cases
from e2e.helpers import a_prompt_still_works, assert_nothing_failed, decoded, engine_modes, results, shown
from fakegram import BotMessage, FakeTelegram, FakeUser
from PIL import Image

import engine.images  # noqa: F401 - registers the HEIF/AVIF codecs the corpus saves with
from bot.files import clean_picture
from engine.api import BadImage

pytestmark = pytest.mark.asyncio(loop_scope="module")

CASES = cases()
BY_NAME = {case.name: case for case in CASES}
MB = 1024 * 1024
# Refused from the document's metadata alone, before any download; every other bad file is downloaded, decoded
# and answered with the message for its engine ErrorCode (error-<code>).
BY_METADATA = {
    "over 20 MB": "document-too-large",
    "pdf": "document-refused",
    "zip": "document-refused",
    "text": "document-refused",
    "video bytes": "video-refused",
}
# What a phone can send as a photo (Telegram turns it into a JPEG): the usable pictures, and two it shrinks or
# keeps as they are but the engine cannot use.
AS_PHOTO = [case for case in CASES if case.expect == "ok"] + [BY_NAME["8x8 image"], BY_NAME["tall aspect 1:20"]]
# After these, the next prompt goes all the way to an album (the others stop at the style screen).
BAD = [case for case in CASES if case.expect != "ok"]
FULL_ALBUM_AFTER = {"decompression bomb", "truncated jpeg", "video bytes", "over 20 MB"}
_user_ids = itertools.count(5001)

BOT_ENV = {"ENGINE_UPSCALE_LONG_SIDE": "512"}


def expected_answer(case: Case, locale: str) -> str:
    if case.expect == "ok":
        return shown(locale, "photo-choices")
    return shown(locale, BY_METADATA.get(case.name, f"error-{case.expect}"))


def user_for(tg: FakeTelegram, locale: str) -> FakeUser:
    return FakeUser(tg, next(_user_ids), first_name="Ира" if locale == "ru" else "Ann", language_code=locale)


async def send_as_document(user: FakeUser, case: Case) -> dict:
    if case.name == "over 20 MB":  # Telegram tells the size; the bytes themselves would never be downloaded
        return await user.send_document(case.data[:4096], case.file_name, case.mime, declared_size=len(case.data))
    return await user.send_document(case.data, case.file_name, case.mime)


def assert_no_metadata(data: bytes) -> Image.Image:
    picture = decoded(data)
    exif = picture.getexif()
    assert not exif, f"EXIF travelled on: {dict(exif)}"
    assert not exif.get_ifd(0x8825), "GPS travelled on"
    assert "exif" not in picture.info
    return picture


def assert_answers(answer: BotMessage, sent: dict, case: Case, locale: str) -> None:
    assert answer.message["reply_to_message"]["message_id"] == sent["message_id"]
    assert answer.text == expected_answer(case, locale), case.name
    if case.expect == "ok":
        assert answer.buttons, "the choices come with their buttons"
    else:
        assert answer.buttons == []


# ---- every file of the corpus, as a document ------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_file_sent_as_a_document_gets_its_answer(tg: FakeTelegram, bot, case: Case):
    user = user_for(tg, "en")
    sent = await send_as_document(user, case)
    answer = await user.next_message()
    assert_answers(answer, sent, case, "en")
    if case.name in BY_METADATA:
        downloads = [call.params.get("file_id") for call in tg.calls_of("getFile")]
        assert sent["document"]["file_id"] not in downloads, "refused from its metadata, before any download"
    await a_prompt_still_works(user, "en", album=case.name in FULL_ALBUM_AFTER)


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
async def test_a_russian_user_hears_why_in_russian(tg: FakeTelegram, bot, case: Case):
    user = user_for(tg, "ru")
    sent = await send_as_document(user, case)
    answer = await user.next_message()
    assert_answers(answer, sent, case, "ru")
    assert answer.text != expected_answer(case, "en")
    await a_prompt_still_works(user, "ru", album=case.name == "truncated jpeg")


# ---- what a phone sends as a photo -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", AS_PHOTO, ids=[case.name for case in AS_PHOTO])
async def test_a_picture_sent_as_a_photo_gets_its_answer(tg: FakeTelegram, bot, case: Case):
    locale = "ru" if case.expect != "ok" else "en"
    user = user_for(tg, locale)
    sent = await user.send_photo(case.data)
    answer = await user.next_message()
    assert_answers(answer, sent, case, locale)
    await a_prompt_still_works(user, locale)


# ---- what the bot keeps of a file --------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_bot_keeps_a_clean_upright_copy_or_refuses_with_the_code(case: Case):
    """bot.files.clean_picture runs on arrival; its copy is what is stored and what the engine gets."""
    if case.expect != "ok":
        with pytest.raises(BadImage) as refused:
            clean_picture(case.data)
        assert refused.value.code == case.expect
        return
    picture = assert_no_metadata(clean_picture(case.data))
    assert picture.size == case.size and picture.mode == "RGB"


# ---- usable but odd pictures go all the way ------------------------------------------------------------------
def _variations_label() -> str:
    return shown("en", "btn-photo-vary")


@pytest.mark.parametrize("name", ["heic", "16-bit png", "cmyk jpeg", "animated webp"])
async def test_odd_but_usable_pictures_make_variations(tg: FakeTelegram, bot, name: str):
    if not engine_modes() & {"reimagine", "vary"}:
        pytest.skip("engine mode(s) not available yet: reimagine or vary")
    case = BY_NAME[name]
    user = user_for(tg, "en")
    await send_as_document(user, case)
    choices = await user.next_message()
    await user.press(choices, _variations_label())
    album, _ = await results(user)
    assert len(album.photos) == 4
    width, height = case.size
    for picture in map(assert_no_metadata, album.photos):  # the source's aspect is kept
        assert (picture.width >= picture.height) == (width >= height)


async def test_an_exif_rotated_photo_is_turned_upright_and_its_gps_never_travels(tg: FakeTelegram, bot):
    case = BY_NAME["exif-rotated jpeg with gps"]
    assert Image.open(io.BytesIO(case.data)).getexif().get_ifd(0x8825), "the file itself carries a GPS position"
    user = user_for(tg, "en")
    await send_as_document(user, case)
    choices = await user.next_message()
    modes = engine_modes()
    if modes & {"reimagine", "vary"}:
        await user.press(choices, _variations_label())
        album, _ = await results(user)
        for picture in map(assert_no_metadata, album.photos):
            assert picture.height > picture.width, "portrait, as the phone showed it"
    if "upscale" not in modes:
        return
    await user.press(choices, shown("en", "btn-photo-upscale"))
    preview = await user.next_photo(timeout=120)
    document = await user.next_document(timeout=60)
    for data in (preview.photos[0], document.document):
        picture = assert_no_metadata(data)
        assert picture.height > picture.width
        assert "GPS" not in str(picture.info)


# ---- albums with a bad file in them ----------------------------------------------------------------------------
_groups = itertools.count(24_000_000_000_000_000)


async def send_document_album(user: FakeUser, parts: list[Case]) -> list[dict]:
    """Documents sent as one album (they group only with documents): messages sharing a media_group_id."""
    group = str(next(_groups))
    sent = []
    for case in parts:
        stored = user.tg.files.add(case.data, "documents", case.file_name, case.mime)
        document = {**stored.ref(), "file_name": case.file_name, "mime_type": case.mime}
        sent.append(await user._send({"document": document, "media_group_id": group}))
    return sent


@pytest.mark.parametrize("bad_first", [True, False], ids=["bad first", "bad second"])
async def test_a_bad_file_in_an_album_is_explained_and_the_good_one_still_offered(tg, bot, bad_first: bool):
    good, bad = BY_NAME["plain png"], BY_NAME["truncated jpeg"]
    user = user_for(tg, "ru")
    sent = await send_document_album(user, [bad, good] if bad_first else [good, bad])
    first, second = await user.next_message(), await user.next_message()
    by_reply = {m.message["reply_to_message"]["message_id"]: m for m in (first, second)}
    bad_message = sent[0 if bad_first else 1]["message_id"]
    assert by_reply[bad_message].text == shown("ru", "error-bad_image")
    offered = [m for m in (first, second) if m.buttons]
    assert len(offered) == 1 and offered[0].text == shown("ru", "photo-choices")
    await a_prompt_still_works(user, "ru")


async def test_a_video_gets_a_clear_answer(tg: FakeTelegram, bot):
    user = user_for(tg, "ru")
    sent = await user.send_video()
    answer = await user.next_message()
    assert answer.message["reply_to_message"]["message_id"] == sent["message_id"]
    assert answer.text == shown("ru", "video-refused")
    await a_prompt_still_works(user, "ru")


async def test_a_photo_over_20_mb_in_every_size_is_refused_before_download(tg: FakeTelegram, bot):
    user = user_for(tg, "en")
    stored = tg.files.add(BY_NAME["plain jpeg"].data, "photos", declared_size=25 * MB)
    size = {**stored.ref(), "width": 9000, "height": 6000}
    sent = await user._send({"photo": [size]})
    answer = await user.next_message()
    assert answer.message["reply_to_message"]["message_id"] == sent["message_id"]
    assert answer.text == shown("en", "document-too-large")
    assert stored.file_id not in [call.params.get("file_id") for call in tg.calls_of("getFile")]
    await a_prompt_still_works(user, "en")


async def test_nothing_failed_inside_the_bot(tg: FakeTelegram, bot):
    """Run last: no handler crashed (the generic apology was never sent) and no reply was refused by Telegram."""
    assert_nothing_failed(tg, bot)
