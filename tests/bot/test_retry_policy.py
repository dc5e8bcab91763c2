"""One retry policy for every Bot API call (bot.telegram.Retrying, the session's request middleware): a 429 is
waited out for its retry_after, a network or 5xx error is retried with back-off, and the calls that must be tried
once (polling, button answers, chat actions, status edits inside `once()`) are left alone."""

from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetUpdates, SendMessage

import bot.telegram as telegram
from bot.telegram import ATTEMPTS, Retrying, once


class Api:
    """make_request of a session whose first `failures` answers are errors."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self, bot, method):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "sent"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(telegram.asyncio, "sleep", sleep)
    return slept


SEND = SendMessage(chat_id=1, text="hi")


async def test_a_429_on_any_call_is_waited_out_for_its_retry_after(waits):
    api = Api(TelegramRetryAfter(SEND, "Too Many Requests", retry_after=7))
    assert await Retrying()(api, None, SEND) == "sent"
    assert api.calls == 2 and waits == [7.0]


async def test_a_huge_retry_after_is_capped_at_a_minute(waits):
    api = Api(TelegramRetryAfter(SEND, "Too Many Requests", retry_after=3600))
    await Retrying()(api, None, SEND)
    assert waits == [60.0]


async def test_network_errors_back_off_then_give_up(waits):
    api = Api(*[TelegramNetworkError(SEND, "dropped")] * ATTEMPTS)
    with pytest.raises(TelegramNetworkError):
        await Retrying()(api, None, SEND)
    assert api.calls == ATTEMPTS and waits == [1.0, 2.0, 4.0, 8.0]


async def test_a_refusal_is_not_retried(waits):
    api = Api(TelegramBadRequest(SEND, "Bad Request: chat not found"))
    with pytest.raises(TelegramBadRequest):
        await Retrying()(api, None, SEND)
    assert api.calls == 1 and waits == []


@pytest.mark.parametrize("method", [GetUpdates(), AnswerCallbackQuery(callback_query_id="1")])
async def test_polling_and_button_answers_are_tried_once(waits, method):
    api = Api(TelegramRetryAfter(method, "Too Many Requests", retry_after=1))
    with pytest.raises(TelegramRetryAfter):
        await Retrying()(api, None, method)
    assert api.calls == 1


async def test_a_status_edit_opts_out_and_other_calls_around_it_do_not(waits):
    edit = EditMessageText(chat_id=1, message_id=2, text="Drawing… 40%")
    api = Api(TelegramRetryAfter(edit, "Too Many Requests", retry_after=1))
    with once(), pytest.raises(TelegramRetryAfter):
        await Retrying()(api, None, edit)
    api = Api(TelegramRetryAfter(edit, "Too Many Requests", retry_after=1))
    assert await Retrying()(api, None, edit) == "sent", "outside once() an edit is retried like any call"
