"""What each button makes, read from the rule table through the request service (no Telegram, no engine run):
a user presses X under their pictures, the new request starts from the right picture, in the right mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import rules
from bot.records import JobRecord, Kind, PictureRecord, Prefs, State
from bot.requests import Requests
from bot.storage import MemoryStore
from engine.api import MODES, Mode
from engine.styles import load_styles
from keyboards.callbacks import DraftAct, PhotoAct, ResultAct, SettingsAct

REPO = Path(__file__).resolve().parents[2]
PREFS = Prefs(style="anime", count=3)


class Catalog:
    def __init__(self, modes: frozenset[Mode] = frozenset(Mode)) -> None:
        self.modes = modes

    def available_modes(self) -> frozenset[Mode]:
        return self.modes

    def styles(self):
        return load_styles()

    def can_beautify(self) -> bool:
        return False


async def finished(store: MemoryStore, **fields) -> JobRecord:
    """A delivered request of four pictures (seeds 500..503), as the buttons under it find it."""
    given = dict(prompt="a red fox", style="watercolor", result_style="watercolor", state=State.DONE)
    pictures = [PictureRecord(500 + n, 64, 64) for n in range(4)]
    record = JobRecord(id="parent01", owner=7, chat_id=7, pictures=pictures, **{**given, **fields})
    for n in range(1, 5):
        await store.put_blob(record.id, f"pic{n}", f"picture {n}".encode())
    await store.save_job(record)
    return record


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(ttl_s=60)


async def test_4k_of_picture_two_starts_from_picture_two_with_its_seed(store):
    requests = Requests(Catalog(), store, None, "none")
    parent = await finished(store)
    job = await requests.derive(parent, rules.RESULT_RULES[ResultAct.UPSCALE], PREFS, picture=2)
    assert job.mode == Mode.UPSCALE and job.count == 1 and job.seed == 501
    assert await requests.sources(job) == [b"picture 2"]
    assert requests.request(job, [b"picture 2"]).aspect == "", "4K follows its picture's size"


async def test_variations_and_zoom_keep_the_style_the_pictures_came_out_in(store):
    requests = Requests(Catalog(), store, None, "none")
    parent = await finished(store, style=None)  # the user picked no style; the engine's default drew them
    strong = await requests.derive(parent, rules.RESULT_RULES[ResultAct.STRONG], PREFS, picture=3)
    assert (strong.mode, strong.variation, strong.style, strong.seed) == (Mode.VARY, "strong", "watercolor", None)
    zoom = await requests.derive(parent, rules.RESULT_RULES[ResultAct.ZOOM_OUT], PREFS, 1, **rules.zoom_out("2"))
    assert (zoom.mode, zoom.zoom, zoom.aspect, zoom.count, zoom.style) == (Mode.ZOOM, 2.0, "", 1, "watercolor")
    wide = await requests.derive(parent, rules.RESULT_RULES[ResultAct.EXTEND], PREFS, 1, **rules.extend("16:9"))
    assert requests.request(wide, [b""]).aspect == "16:9" and wide.zoom == 1.0


async def test_another_style_draws_a_text_picture_again_with_the_same_seed(store):
    requests = Requests(Catalog(), store, None, "none")
    parent = await finished(store)
    job = await requests.derive(parent, rules.RESULT_RULES[ResultAct.RESTYLE], PREFS)
    assert job.mode == Mode.RESTYLE and job.seed == 500 and job.prompt == "a red fox"
    assert rules.RESULT_RULES[ResultAct.RESTYLE].then == rules.Then.PICK_STYLE
    mix = await finished(MemoryStore(60), mode=Mode.MIX, weights=[0.5, 0.5])
    assert rules.RESULT_RULES[ResultAct.RESTYLE].mode_for(mix.mode, frozenset(Mode)) == Mode.MIX


async def test_remix_asks_for_a_new_prompt_and_reroll_keeps_everything_but_the_seed(store):
    requests = Requests(Catalog(), store, None, "none")
    parent = await finished(store)
    remix = await requests.derive(parent, rules.RESULT_RULES[ResultAct.REMIX], PREFS, picture=4)
    assert remix.prompt == "" and remix.mode == Mode.REMIX and await requests.sources(remix) == [b"picture 4"]
    again = await requests.derive(parent, rules.RESULT_RULES[ResultAct.REROLL], PREFS)
    assert (again.mode, again.prompt, again.style, again.seed, again.count) == (
        Mode.GENERATE,
        "a red fox",
        "watercolor",
        None,
        4,
    )
    assert again.source_count == 0, "a text prompt has no pictures to start from"


async def test_a_photo_is_varied_by_image_prompt_or_else_by_img2img(store):
    photo = JobRecord(id="photo001", owner=7, chat_id=7, kind=Kind.PHOTO, aspect="", source_count=1)
    await store.put_blob(photo.id, "src1", b"the photo")
    await store.save_job(photo)
    rule = rules.PHOTO_RULES[PhotoAct.VARY]
    with_adapter = await Requests(Catalog(), store, None, "none").derive(photo, rule, PREFS)
    without = await Requests(Catalog(frozenset({Mode.GENERATE, Mode.VARY})), store, None, "none").derive(
        photo, rule, PREFS
    )
    assert (with_adapter.mode, without.mode) == (Mode.REIMAGINE, Mode.VARY)
    assert with_adapter.count == 3 and with_adapter.style is None, "a bare photo: no style, the user's count"


async def test_two_photos_mix_at_the_balance_pressed_following_the_first_photos_size(store):
    pair = JobRecord(id="pair0001", owner=7, chat_id=7, kind=Kind.PAIR, aspect="", source_count=2, prompt="a cat")
    for n in (1, 2):
        await store.put_blob(pair.id, f"src{n}", b"photo %d" % n)
    await store.save_job(pair)
    requests = Requests(Catalog(), store, None, "none")
    job = await requests.derive(pair, rules.PHOTO_RULES[PhotoAct.MIX], PREFS, **rules.balance(30))
    request = requests.request(job, await requests.sources(job))
    assert request.weights == (0.3, 0.7) and request.aspect == "" and request.style == "anime"


def test_mode_facts_say_what_the_request_rules_need():
    assert [mode for mode, facts in MODES.items() if facts.single] == [Mode.UPSCALE]
    assert [mode for mode, facts in MODES.items() if facts.aspect_from_user] == [Mode.GENERATE]
    assert set(MODES) == set(Mode)


def test_a_record_of_the_previous_version_reads_as_todays():
    old = (
        '{"id": "abcdefgh", "owner": 1, "chat_id": 1, "mode": "pair", "source_files": ["f1", "f2"],'
        ' "sources": 2, "state": "draft"}'
    )
    record = JobRecord.from_json(old)
    assert (record.kind, record.mode, record.source_file_ids, record.source_count) == (
        Kind.PAIR,
        Mode.GENERATE,
        ["f1", "f2"],
        2,
    )


@pytest.mark.parametrize("actions", [ResultAct, PhotoAct, DraftAct, SettingsAct])
def test_every_button_action_has_a_handler_found_by_its_name(actions):
    """`grep UPSCALE handlers/` answers where the 4K button is handled: every action is named in a filter."""
    source = "\n".join(path.read_text() for path in (REPO / "handlers").glob("*.py"))
    filtered = set(re.findall(rf"{actions.__name__}\.([A-Z_]+)", source))
    missing = [act.name for act in actions if act.name not in filtered]
    assert not missing, f"{actions.__name__} without a handler: {missing}"
