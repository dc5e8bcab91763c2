"""Easel's Telegram bot: `python -m bot` (app.py builds and runs it)."""
