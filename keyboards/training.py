"""/train_style: Train and Cancel under the message counting the pictures; Cancel under a training in progress;
Resume (or Train again) and Forget under a training a restart interrupted."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from locales import Texts

from .callbacks import TrainAct, TrainCb


def collecting_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.plain("btn-train"), callback_data=TrainCb(act=TrainAct.START))
    builder.button(text=texts.plain("btn-cancel"), callback_data=TrainCb(act=TrainAct.DROP))
    return builder.as_markup()


def training_keyboard(texts: Texts, job: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.plain("btn-cancel"), callback_data=TrainCb(act=TrainAct.CANCEL, job=job))
    return builder.as_markup()


def interrupted_keyboard(texts: Texts, job: str, resumes: bool) -> InlineKeyboardMarkup:
    """`resumes`: a checkpoint was saved, and the training goes on from it; else it starts over."""
    builder = InlineKeyboardBuilder()
    again = texts.plain("btn-resume" if resumes else "btn-train-again")
    builder.button(text=again, callback_data=TrainCb(act=TrainAct.RESUME, job=job))
    builder.button(text=texts.plain("btn-forget"), callback_data=TrainCb(act=TrainAct.FORGET, job=job))
    return builder.as_markup()
