"""Links to the Mini App (bot/webapp.py): the page that repaints a region of a picture.

A `web_app` button needs a public HTTPS address (PUBLIC_URL) and a private chat (Telegram refuses the button in
groups); without either the button is not shown. The link names the request and the picture; the page proves who
opens it with Telegram's signed initData, so a link passed on to someone else opens nothing of theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from .records import JobRecord

PAGE_PATH = "/app/region"


def region_url(public_url: str, job: str, picture: int) -> str:
    return f"{public_url.rstrip('/')}{PAGE_PATH}?{urlencode({'job': job, 'pic': picture})}"


def region_links(public_url: str, record: JobRecord) -> Callable[[int], str] | None:
    """picture (1-based) -> the page's address for it; None where the button cannot be shown."""
    if not public_url or record.chat_id != record.owner:  # a private chat's id is its user's
        return None
    return lambda picture: region_url(public_url, record.id, picture)
