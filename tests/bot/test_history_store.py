"""/history and /favorites keep a per-user index in the store, memory or Redis: newest first, paged, the latest
HISTORY_KEPT only; a favourite's record and pictures are kept for FAVOURITE_KEEP_S instead of the usual TTL.
And the collage of a page is a numbered grid made from the stored pictures."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.collage import COLUMNS, TILE, collage
from bot.records import JobRecord, PictureRecord
from bot.storage import FAVOURITE_KEEP_S, HISTORY_KEPT, MemoryStore, RedisStore, Store


def png(color: tuple[int, int, int], size: tuple[int, int] = (128, 96)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


async def a_user_draws_and_stars(store: Store) -> None:
    for n in range(8):
        await store.add_history(7, f"job{n}")
    await store.add_history(8, "other")
    assert await store.history(7, 0, 6) == ([f"job{n}" for n in (7, 6, 5, 4, 3, 2)], 8)
    assert await store.history(7, 6, 6) == (["job1", "job0"], 8)
    assert await store.history(9, 0, 6) == ([], 0)
    await store.add_history(7, "job0")  # brought back: newest again, listed once
    assert (await store.history(7, 0, 2))[0] == ["job0", "job7"] and (await store.history(7, 0, 1))[1] == 8
    await store.set_favourite(7, "job3", True)
    await store.set_favourite(7, "job5", True)
    assert await store.favourites(7, 0, 6) == (["job5", "job3"], 2)
    await store.set_favourite(7, "job5", False)
    assert await store.favourites(7, 0, 6) == (["job3"], 1)
    assert await store.favourites(8, 0, 6) == ([], 0)


async def test_the_memory_store_indexes_history_and_favourites():
    await a_user_draws_and_stars(MemoryStore(ttl_s=60))


async def test_history_keeps_the_latest_requests_only():
    store = MemoryStore(ttl_s=60)
    for n in range(HISTORY_KEPT + 5):
        await store.add_history(1, f"j{n}")
    ids, total = await store.history(1, 0, HISTORY_KEPT + 10)
    assert total == HISTORY_KEPT and ids[0] == f"j{HISTORY_KEPT + 4}" and "j4" not in ids


async def test_the_redis_store_indexes_them_and_keeps_a_favourite_for_a_year(redis_server, tmp_path):
    store = RedisStore.from_url(redis_server.url, ttl_s=3600, picture_dir=tmp_path / "pictures")
    try:
        await a_user_draws_and_stars(store)
        job = JobRecord(id="fav1", owner=7, chat_id=7, pictures=[PictureRecord(1, 128, 96)])
        await store.save_job(job)
        await store.put_blob(job.id, "pic1", png((200, 0, 0)))
        assert await store.redis.ttl("easel:job:fav1") <= 3600
        job.favourite = True
        await store.save_job(job)
        await store.put_blob(job.id, "pic1", png((200, 0, 0)), keep=True)
        assert await store.redis.ttl("easel:job:fav1") > 3600 * 24 * 300
        assert await store.redis.ttl("easel:blob:fav1:pic1") > 3600 * 24 * 300
        expires = await store.redis.zscore("easel:pictures", await store.redis.get("easel:blob:fav1:pic1"))
        assert expires > store.pictures.clock() + FAVOURITE_KEEP_S - 60, "the sweep keeps the file as long"
        assert await store.get_blob("fav1", "pic1") == png((200, 0, 0))
    finally:
        await store.close()


def test_a_page_collage_numbers_its_pictures_in_a_grid():
    pictures = [png((255, 0, 0)), png((0, 255, 0), (96, 128)), None, b"not a picture", png((0, 0, 255))]
    sheet = Image.open(io.BytesIO(collage(pictures)))
    assert sheet.format == "JPEG"
    assert sheet.width > COLUMNS * TILE and TILE * 2 < sheet.height < TILE * 3
    red = sheet.convert("RGB").getpixel((TILE // 2 + 6, TILE // 2 + 6))
    assert red[0] > 200 and red[1] < 60, "picture 1 fills the first tile"
    assert Image.open(io.BytesIO(collage([png((1, 2, 3))]))).width < TILE + 20, "one picture: one tile"


@pytest.mark.parametrize("count", [0, 1, 6])
def test_a_collage_of_any_page_size_decodes(count: int):
    Image.open(io.BytesIO(collage([png((9, 9, 9))] * count))).load()
