"""Routers, one per thing a user does, in the order they are tried (errors last)."""

from aiogram import Router

from . import admin, describe, edit, errors, history, jobs, photos, prompt, results, settings, start, training


def get_routers() -> list[Router]:
    return [
        admin.router,  # /stats, /allow, /deny (administrators only)
        training.router,  # /train_style, its pictures (before any other photo), Train and Cancel
        start.router,  # /start, /help, example prompts
        settings.router,  # /settings, /styles
        jobs.router,  # /cancel, the Cancel button
        describe.router,  # /describe and 💬 Describe: prompts that describe a photo (before photos take the photo)
        edit.router,  # ✏️ Edit and 🖌 Region, the answer to "What should change?" (before any other text)
        photos.router,  # photos, albums, files; the choices under them
        results.router,  # the buttons under results
        history.router,  # /history, /favorites and their pages
        prompt.router,  # text -> style screen -> submit (last: it takes any text)
        errors.router,
    ]
