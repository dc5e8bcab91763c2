"""The whole bot on FLUX.2 klein (ENGINE_MODEL=tiny-flux2): a Russian prompt becomes an album, its buttons vary,
zoom, edit by instruction, repaint a region and make 4K; two photos mix and the balance changes the picture. A bot
on Kandinsky 5, which cannot zoom out, mix or repaint a region, does not show those buttons (it edits)."""

from __future__ import annotations

import pytest
from e2e.helpers import PLAIN_BOT, bot_running, decoded, draw, results, shown, sizes
from fakegram import FakeTelegram, FakeUser
from redisproc import free_port

from engine.images import read_parameters

pytestmark = pytest.mark.asyncio(loop_scope="module")
PORT = free_port()
# PUBLIC_URL: the 🖌 Region Mini App is offered (only where the family can repaint a region).
BOT_ENV = {"ENGINE_MODEL": "tiny-flux2", "ENGINE_UPSCALE_LONG_SIDE": "512", "PUBLIC_URL": f"http://127.0.0.1:{PORT}",
           "HTTP_PORT": str(PORT), "HTTP_HOST": "127.0.0.1"}  # fmt: skip


async def test_a_russian_prompt_becomes_an_album_drawn_by_klein(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1101, language_code="ru")
    album, buttons = await draw(user, "рыжая лиса в снегу", style="Без стиля")
    assert sizes(album) == [(128, 128)] * 4
    assert "рыжая лиса в снегу" in album.text
    assert any("🔭" in label for label in buttons.labels) and any("🪄" in label for label in buttons.labels)
    assert shown("ru", "btn-edit") in buttons.labels and shown("ru", "btn-region") in buttons.labels


async def test_a_klein_picture_is_edited_by_an_instruction_in_russian(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1104, language_code="ru")
    drawn, buttons = await draw(user, "рыжая лиса в снегу", style="Без стиля")
    await user.press(buttons, shown("ru", "btn-edit"))
    await user.next_edit(lambda m: m.message_id == buttons.message_id)
    await user.press(buttons, "2")
    question = await user.next_message(lambda m: m.method == "sendMessage")
    assert question.text == shown("ru", "ask-edit", n=2)
    await user.send_text("сделай ночь")
    album, under = await results(user)
    assert len(album.photos) == 4 and "✏️ сделай ночь" in album.text
    assert sizes(album) == sizes(drawn), "an edit keeps the picture's size"
    assert shown("ru", "btn-edit") in under.labels, "an edit can be edited again"


async def test_variations_of_a_klein_picture(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1102)
    _, buttons = await draw(user, "a paper boat")
    await user.press(buttons, "V2")
    varied, _ = await results(user)
    assert "Variations" in varied.text and len(varied.photos) == 4


async def test_4k_file_names_the_family_and_its_picture(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1103)
    _, buttons = await draw(user, "a mountain lake")
    await user.press(buttons, "4K 1")
    await user.next_photo(timeout=120)
    document = await user.next_document(timeout=60)
    assert max(decoded(document.document).size) == 512
    params = read_parameters(document.document)
    assert params["family"] == "flux2_klein" and params["mode"] == "upscale"


async def test_zoom_out_extends_a_klein_picture(tg: FakeTelegram, bot):
    user = FakeUser(tg, 1105)
    _, buttons = await draw(user, "a tiny house")
    await user.press(buttons, "🔭")
    await user.next_edit()
    await user.press(buttons, "2")
    await user.next_edit()
    await user.press(buttons, "16:9")
    zoomed, _ = await results(user)
    width, height = decoded(zoomed.photos[0]).size
    assert width > height and "Zoom out" in zoomed.text


async def test_two_photos_mix_by_reference_and_the_balance_changes_the_picture(tg: FakeTelegram, bot, sample_bytes):
    user = FakeUser(tg, 1106)
    await user.send_album([sample_bytes("chelsea.png"), sample_bytes("coffee.png")], caption="a cozy morning")
    choices = await user.next_message()
    await user.press(choices, "30/70")
    album, buttons = await results(user)
    assert "Mix 30/70" in album.text and len(album.photos) == 4
    await user.press(buttons, "70/30")
    again, _ = await results(user)
    assert "Mix 70/30" in again.text and again.photos != album.photos


async def test_a_bot_on_kandinsky5_hides_the_modes_it_cannot_do(tg: FakeTelegram, bot, bot_env, tmp_path_factory,
                                                                 sample_bytes):  # fmt: skip
    """Last: the module's bot stops; one on Kandinsky 5 (no zoom, no mix) takes the same chat."""
    code, _ = await bot.terminate(timeout=60)
    assert code == 0
    env = {**bot_env, "ENGINE_MODEL": "tiny-kandinsky5"}
    async for _ in bot_running(tg, tmp_path_factory, env, PLAIN_BOT):
        user = FakeUser(tg, 1107)
        album, buttons = await draw(user, "рыжая лиса")
        assert len(album.photos) == 4
        assert not any("🔭" in label for label in buttons.labels) and "V1" in buttons.labels
        assert shown("en", "btn-edit") in buttons.labels, "Kandinsky 5 edits by its I2I"
        assert shown("en", "btn-region") not in buttons.labels, "no Kandinsky 5 inpainting: no 🖌 Region"
        await user.send_photo(sample_bytes("chelsea.png"))
        choices = await user.next_message()
        assert "Variations" in " ".join(choices.labels)
        assert "Mix with another photo" not in " ".join(choices.labels)
        assert shown("en", "btn-photo-edit") in choices.labels and shown("en", "btn-photo-region") not in choices.labels
        await user.send_album([sample_bytes("chelsea.png"), sample_bytes("coffee.png")])
        answer = await user.next_message()
        assert shown("en", "mix-unavailable") in answer.text
