"""Logging setup with a filter that keeps the bot token out of every log line.

The token is part of every Bot API URL, and aiohttp/aiogram log URLs (request errors, retries). Whatever
else would reach stderr past logging goes through it too: uncaught exceptions (main thread, threads, the
asyncio loop) and warnings.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading

# Any Bot API token (<bot id>:<35 characters>), also inside URLs (/bot<token>/method).
TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
REDACTED = "<token>"


class RedactTokens(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        # A very short secret (a weak Redis password) would blank out common words everywhere: not redacted.
        self.secrets = tuple(secret for secret in secrets if len(secret) >= 6)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return TOKEN_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, with the raw msg and args
            message = f"{record.msg} {record.args}"
            record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line (time, level, logger, message, and the traceback if any), for a log collector.
    Formatted after RedactTokens ran: what it prints is already clean."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str, secrets: tuple[str, ...] = (), fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonLines() if fmt == "json" else text)
    handler.addFilter(RedactTokens(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiogram.event", "httpx", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    crashes = logging.getLogger("crash")
    sys.excepthook = lambda kind, error, tb: crashes.critical("uncaught exception", exc_info=(kind, error, tb))

    def thread_crash(hook: threading.ExceptHookArgs) -> None:
        if hook.exc_type is not SystemExit:
            name = hook.thread.name if hook.thread else "?"
            # The exception itself: logging reads its traceback (hook.exc_traceback) from it.
            crashes.error("uncaught exception in thread %s", name, exc_info=hook.exc_value)

    threading.excepthook = thread_crash
