"""After a crash: what was accepted and never delivered is taken up again, in the order it was accepted.

Every submitted request is pending in storage until its delivery ends (Requests.submit / settled). With
Redis that index outlives the process; on start, before any update is read, `recover` goes through it:
- a request that was waiting or running is submitted again (its source pictures are in storage; its seed is
  drawn anew unless it had one) and its status message comes back to life: place in line, a working Cancel;
- a request whose pictures were made and stored, but not all sent, is delivered from storage, the album
  never twice (JobRecord.album_id);
- one that cannot run again (its pictures expired, the line is full) has its status message say so, with
  a "Try again" button.
With the memory store nothing survives a crash, and there is nothing to find: README and docs/RELIABILITY.md
say so.
"""

from __future__ import annotations

import logging

from engine.api import MODES, ImageService, JobState
from locales import Translator

from .delivery import Delivery
from .records import State
from .requests import Refused, Requests

log = logging.getLogger(__name__)


async def recover(requests: Requests, delivery: Delivery, translator: Translator, engine: ImageService) -> int:
    """Take up every pending request; returns how many. `engine` is the unmetered door: a request run again
    was counted against the daily quota when it was first accepted."""
    pending = await requests.owed()
    for job_id in pending:
        record = await requests.get(job_id)
        if record is None:  # expired with its TTL
            await requests.forget(job_id)
            continue
        texts = translator[record.locale]
        if record.state in (State.FAILED, State.CANCELLED):  # the user was told; only the bookkeeping was cut
            await requests.settled(record)
            continue
        if record.state == State.DONE and not MODES[record.mode].as_file:
            log.info("request %s: delivering what was made before the restart", record.id)
            delivery.resume(record, texts)
            continue
        if await _still_in_engine(engine, record.engine_job):  # a fleet's workers went on: follow it again
            log.info("request %s still in the engine after the restart: following it", record.id)
            requests.adopt(record)
            await delivery.start(record, texts, edit=record.message_id, note=texts("status-resumed") + "\n")
            continue
        # Waiting or running when the process died (a 4K file is not kept: it is made again, with the same seed).
        try:
            await requests.submit(record, texts, via=engine)
        except Refused as refused:
            log.info("request %s could not be taken up again: %s", record.id, refused.text)
            await delivery.lost(record, texts, refused.text)
            continue
        log.info("request %s submitted again after the restart", record.id)
        await delivery.start(record, texts, edit=record.message_id, note=texts("status-resumed") + "\n")
    if pending:
        log.info("%d request(s) taken up after a restart", len(pending))
    return len(pending)


async def _still_in_engine(engine: ImageService, job_id: str) -> bool:
    """Whether the job outlived this process (an engine that can attach to it: the fleet; the in-process engine
    died with the process) and did not fail or get cancelled."""
    attach = getattr(engine, "attach", None)
    if attach is None or not job_id:
        return False
    status = await attach(job_id)
    return status is not None and status.state not in (JobState.FAILED, JobState.CANCELLED)
