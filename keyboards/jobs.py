"""The status message of a request in progress: one Cancel button; of one a restart lost: Try again."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import JobAct, JobCb


def in_progress_keyboard(texts: Texts, job: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.plain("btn-cancel"), callback_data=JobCb(job=job))
    return builder.as_markup()


def retry_keyboard(texts: Texts, job: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.plain("btn-retry"), callback_data=JobCb(job=job, act=JobAct.RETRY))
    return builder.as_markup()
