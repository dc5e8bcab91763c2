"""Texts a daily user reads: numbers agree with their nouns in both languages, and the daily quota's day is the
company's calendar day (QUOTA_TIME_ZONE), said as the local midnight."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.limits import DailyQuota, utc_offset
from bot.storage import MemoryStore
from locales import Translator, plural_form

TEXTS = Translator("en")


@pytest.mark.parametrize(
    ("count", "english", "russian"),
    [
        (1, "1 picture", "1 картинку"),
        (2, "2 pictures", "2 картинки"),
        (4, "4 pictures", "4 картинки"),
        (5, "5 pictures", "5 картинок"),
        (11, "11 pictures", "11 картинок"),
        (12, "12 pictures", "12 картинок"),
        (21, "21 pictures", "21 картинку"),
        (22, "22 pictures", "22 картинки"),
        (111, "111 pictures", "111 картинок"),
    ],
)
def test_a_number_of_pictures_reads_right_in_both_languages(count: int, english: str, russian: str):
    assert TEXTS["en"].plain("n-pictures", count=count) == english
    assert TEXTS["ru"].plain("n-pictures", count=count) == russian


def test_russian_requests_take_one_few_and_many():
    said = [TEXTS["ru"].plain("cancel-done", count=n) for n in (1, 2, 5, 21)]
    assert said == ["✖ Отменил 1 запрос.", "✖ Отменил 2 запроса.", "✖ Отменил 5 запросов.", "✖ Отменил 21 запрос."]
    assert TEXTS["en"].plain("cancel-done", count=1) == "✖ Cancelled 1 request."
    assert TEXTS["en"].plain("cancel-done", count=3) == "✖ Cancelled 3 requests."


def test_help_says_how_many_pictures_with_the_right_noun():
    assert "get 1 picture." in TEXTS["en"]("help", pictures=TEXTS["en"].plain("n-pictures", count=1))
    assert "получите 3 картинки." in TEXTS["ru"]("help", pictures=TEXTS["ru"].plain("n-pictures", count=3))


def test_a_count_that_is_not_a_number_still_gives_a_text():
    assert plural_form("ru", "<b>") == "many" and plural_form("en", None) == "other"
    assert TEXTS["en"].plain("cancel-done", count="x") == "✖ Cancelled x requests."


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_the_quota_day_ends_at_midnight_in_moscow_not_utc():
    moscow = ZoneInfo("Europe/Moscow")
    # 22:30 UTC on 31 January is 01:30 on 1 February in Moscow: already the next quota day there.
    clock = Clock(datetime(2026, 1, 31, 22, 30, tzinfo=ZoneInfo("UTC")).timestamp())
    quota = DailyQuota(MemoryStore(60), per_day=2, clock=clock, zone=moscow)
    assert quota.today() == "20260201"
    values = quota.reset_values()
    assert values == {"count": 2, "zone": "UTC+3", "hours": 22, "minutes": 30}
    assert await quota.take(7, quota.today()) and await quota.take(7, quota.today())
    assert not await quota.take(7, quota.today())
    clock.now += 22.5 * 3600  # Moscow's midnight
    assert quota.today() == "20260202" and await quota.left(7) == 2


def test_the_refusal_names_the_limit_and_the_local_midnight_in_both_languages():
    values = {"count": 2, "zone": "UTC+3", "hours": 5, "minutes": 7}
    english = TEXTS["en"]("error-daily_quota", **values)
    assert "the daily limit is 2 picture requests" in english and "00:00 UTC+3 — in 5 h 7 min" in english
    russian = TEXTS["ru"]("error-daily_quota", **values)
    assert "дневной лимит — 2 запроса" in russian and "00:00 (UTC+3) — через 5 ч 7 мин" in russian
    assert "лимит — 5 запросов" in TEXTS["ru"]("error-daily_quota", **{**values, "count": 5})
    assert "лимит — 1 запрос," in TEXTS["ru"]("error-daily_quota", **{**values, "count": 1})


def test_offsets_read_as_people_write_them():
    assert utc_offset(datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Moscow"))) == "UTC+3"
    assert utc_offset(datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata"))) == "UTC+5:30"
    assert utc_offset(datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))) == "UTC"
    assert utc_offset(datetime(2026, 1, 1, tzinfo=ZoneInfo("America/New_York"))) == "UTC-5"
