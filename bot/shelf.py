"""/history and /favorites: a user's results, newest first, a page at a time, and the collage of a page.

The index is per user in the store (Store.history / Store.favourites: job ids). A record expires as always
(JOB_TTL_S) unless it is a favourite (FAVOURITE_KEEP_S): an expired one is left out of its page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from keyboards.history import PER_PAGE

from .collage import collage
from .records import JobRecord
from .storage import Store


@dataclass(frozen=True)
class ShelfPage:
    records: list[JobRecord]  # the page's results still kept, newest first
    page: int  # 0-based
    pages: int
    total: int  # results listed, the expired ones too


async def shelf_page(store: Store, user: int, starred: bool, page: int) -> ShelfPage:
    listing = store.favourites if starred else store.history
    ids, total = await listing(user, max(page, 0) * PER_PAGE, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    if page >= pages:  # the list shrank since the button was made: its last page
        page = pages - 1
        ids, total = await listing(user, page * PER_PAGE, PER_PAGE)
    records = [record for record in [await store.get_job(job) for job in ids] if record and record.pictures]
    return ShelfPage([record for record in records if record.owner == user], max(page, 0), pages, total)


async def page_collage(store: Store, records: list[JobRecord]) -> bytes:
    """The numbered collage of a page: each result's first picture."""
    firsts = [await store.get_blob(record.id, "pic1") for record in records]
    return await asyncio.to_thread(collage, firsts)
