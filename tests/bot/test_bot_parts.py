"""Small parts of the bot: token redaction in logs, captions, status texts, photo choice, import boundaries."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from aiogram.types import Document, PhotoSize

from bot import files, screens
from bot.logs import RedactTokens
from bot.records import JobRecord
from engine.api import JobResult, JobState, JobStatus, Mode, Picture
from engine.styles import Style, load_styles
from locales import Translator

TOKEN = "123456789:AAFakeTokenForEaselTests_0123456789ab"
REPO = Path(__file__).resolve().parents[2]
texts = Translator("en")["en"]


def test_the_token_is_redacted_from_messages_arguments_and_tracebacks():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction")
    handler = Keep()
    handler.addFilter(RedactTokens((TOKEN,)))
    logger.addHandler(handler)
    try:
        logger.error("GET http://127.0.0.1/bot%s/getUpdates failed", TOKEN)
        logger.error("other token 987654321:ZZZzzzZZZzzzZZZzzzZZZzzzZZZzzzZZZzz in text")
        try:
            raise RuntimeError(f"Cannot connect to http://api/bot{TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert TOKEN not in joined and "AAFakeToken" not in joined and "ZZZzzz" not in joined
    assert joined.count("<token>") >= 3


def _result(prompt: str, count: int = 4) -> JobResult:
    pictures = tuple(Picture(b"", b"", 100 + n, 128, 128) for n in range(count))
    return JobResult(pictures, prompt, prompt, "", "watercolor", "tiny", 2)


def test_a_caption_escapes_the_prompt_and_fits_telegrams_limit():
    record = JobRecord(id="x", owner=1, chat_id=1, mode="mix", weights=[0.3, 0.7])
    caption = screens.caption(texts, record, _result("<script>alert(1)</script> " + "x" * 1000), load_styles())
    assert "&lt;script&gt;" in caption and "<script>" not in caption
    assert len(caption) <= 1024
    assert "Mix 30/70" in caption and "Watercolor" in caption and "100, 101, 102, 103" in caption


def test_status_texts_show_the_place_in_line_then_progress():
    assert "#3" in screens.status_text(texts, JobStatus("j", "u", JobState.WAITING, position=3))
    running = screens.status_text(texts, JobStatus("j", "u", JobState.RUNNING, step=15, total_steps=30))
    assert "50%" in running and "▰▰▰▰▰▱▱▱▱▱" in running
    failed = screens.status_text(texts, JobStatus("j", "u", JobState.FAILED, error="out_of_memory"))
    assert "memory" in failed
    assert "restarting" in screens.end_text(texts, JobStatus("j", "u", JobState.CANCELLED, error="shutting_down"))


def test_a_training_a_restart_interrupted_is_told_in_russian_with_where_it_goes_on_from():
    from bot.training import Training, end_text, offer_text
    from engine.api import ErrorCode, InterruptedTraining

    texts = Translator("en")["ru"]
    stopped = JobStatus("t1", "1", JobState.FAILED, step=24, total_steps=60, error=ErrorCode.SHUTTING_DOWN)
    paused = end_text(texts, Training("t1", "brand", 6, 1, 2), stopped, 10.0)
    assert paused.startswith("⏸ Обучение стиля <b>brand</b> остановлено на 40% из-за перезапуска")
    kept = InterruptedTraining("t1", "1", "brand", pictures=6, step=20, total_steps=60, client={})
    resume = offer_text(texts, kept, 7)
    assert "Его 6 картинок сохранено, а обучение записано на шаге 20 из 60" in resume
    assert "«▶ Продолжить»" in resume and "через 7 дн." in resume
    again = offer_text(texts, InterruptedTraining("t1", "1", "brand", 22, 0, 60, {}), 7.5)
    assert "ещё до первой записи" in again and "Его 22 картинки сохранены" in again and "через 7.5 дн." in again


def test_the_largest_downloadable_photo_is_taken_and_big_files_are_refused_early():
    sizes = [
        PhotoSize(file_id="small", file_unique_id="s", width=90, height=60, file_size=2_000),
        PhotoSize(file_id="big", file_unique_id="b", width=1280, height=853, file_size=300_000),
        PhotoSize(file_id="huge", file_unique_id="h", width=9000, height=6000, file_size=25 * 1024 * 1024),
    ]
    assert files.best_photo(sizes) == "big"
    assert files.best_photo(sizes[2:]) is None
    doc = dict(file_id="d", file_unique_id="d")
    assert files.document_verdict(Document(**doc, file_name="IMG_0001.HEIC", file_size=3_000_000)) == "ok"
    assert files.document_verdict(Document(**doc, mime_type="image/webp")) == "ok"
    assert files.document_verdict(Document(**doc, file_name="a.png", file_size=21 * 1024 * 1024)) == "too_large"
    assert files.document_verdict(Document(**doc, file_name="notes.pdf", mime_type="application/pdf")) == "not_image"


def test_handlers_and_keyboards_never_import_torch_or_diffusers():
    code = (
        "import sys, handlers, keyboards.results, keyboards.settings, bot.requests, bot.delivery, bot.screens;"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_allow_lists_admit_listed_users_and_chats_only():
    from bot.access import AccessPolicy
    from bot.config import Settings
    from bot.storage import MemoryStore

    open_bot = AccessPolicy(Settings(bot_token="1:x"), MemoryStore(60))
    assert open_bot.allowed(5, 5) and open_bot.allowed(None, None)
    settings = Settings(bot_token="1:x", allowed_user_ids="1, 2", admin_user_ids="9", allowed_chat_ids="-100")
    corporate = AccessPolicy(settings, MemoryStore(60))
    assert corporate.allowed(1, 1) and corporate.allowed(9, 9) and corporate.allowed(7, -100)
    assert not corporate.allowed(7, 7) and not corporate.allowed(None, None)


class Catalog:
    """What the bot asks of an ImageService before submitting: its modes, styles and whether it improves prompts."""

    def __init__(self, can_beautify: bool) -> None:
        self.beautify = can_beautify

    def available_modes(self) -> frozenset[Mode]:
        return frozenset(Mode)

    def styles(self) -> dict[str, Style]:
        return load_styles()

    def can_beautify(self) -> bool:
        return self.beautify


def test_improve_prompt_is_offered_and_used_only_where_the_server_has_a_prompt_llm():
    from bot.records import Prefs
    from bot.requests import Requests
    from bot.storage import MemoryStore

    prefs = Prefs(beautify=True)  # chosen while the server had an LLM
    record = JobRecord(id="x", owner=1, chat_id=1, prompt="a red fox", beautify=True)
    for can in (True, False):
        workshop = Requests(Catalog(can), MemoryStore(60), None, "none")
        assert workshop.request(record, []).beautify == can, "a stored 'on' is ignored without an LLM"
        text, markup = screens.settings_screen(
            texts, Translator("en"), 1, prefs, workshop.styles, "none", offer_beautify=workshop.can_beautify()
        )
        labels = [button.text for row in markup.inline_keyboard for button in row]
        assert ("Improve prompts: on" in text) == can and ("✨ Improve prompts: on" in labels) == can
        _, markup = screens.draft_screen(texts, record, workshop.styles, "none", offer_beautify=workshop.can_beautify())
        labels = [button.text for row in markup.inline_keyboard for button in row]
        assert ("✨ Improve prompt: on" in labels) == can


def test_json_log_lines_are_json_and_keep_the_token_out():
    import io
    import json

    from bot.logs import JsonLines

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactTokens((TOKEN,)))
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.warning("POST /bot%s/sendPhoto: %s", TOKEN, "кот")
    try:
        raise RuntimeError(f"bad url /bot{TOKEN}/x")
    except RuntimeError:
        logger.exception("failed")
    logger.removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"] and lines[0]["logger"] == "test.json"
    assert "кот" in lines[0]["message"] and "<token>" in lines[0]["message"]
    assert "RuntimeError" in lines[1]["exception"] and TOKEN not in out.getvalue()
