"""How often status messages ("#N in line", "Drawing… NN%") are edited: sparsely per message, per chat, and
within one budget for the whole bot.

Telegram allows about one message a second per chat, 20 a minute per group and ~30 a second per bot, and
answers a burst with 429s that would hold up albums too. A status line is a courtesy, so it gets a small share:
a place far back in line is a rough figure that changes with every job drawn (shown anew every 12 s at most),
a place near the front or the progress of drawing is worth showing sooner, and all status edits of all chats
together stay within a few a second. Albums, buttons and the final message of a job are never paced.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.api import JobState, JobStatus

NEAR_FRONT = 3  # places in line shown promptly: the user is about to be served
PROGRESS_INTERVAL_S = 1.0  # "Drawing… NN%" of one job: at most an edit a second
NEAR_FRONT_INTERVAL_S = 3.0
FAR_BACK_INTERVAL_S = 12.0
CHAT_INTERVAL_S = 1.0  # status edits in one private chat (a user may have three jobs there)
GROUP_INTERVAL_S = 3.0  # ... and in one group: 20 messages a minute
STATUS_EDITS_PER_S = 5.0  # all chats together; Telegram allows ~30 messages a second per bot
STATUS_EDITS_BURST = 10.0
KEPT_FOR_PROGRESS = 2.0  # places in line leave this many edits in the bucket for progress, which goes first
MAX_HOLD_S = 60.0
MAX_TRACKED_CHATS = 1000  # past this, chats free to edit are forgotten


def edit_interval(status: JobStatus) -> float:
    """The least time between two edits of one status message that is to show `status`."""
    if status.state == JobState.RUNNING:
        return PROGRESS_INTERVAL_S
    return NEAR_FRONT_INTERVAL_S if status.position <= NEAR_FRONT else FAR_BACK_INTERVAL_S


class EditBudget:
    """A token bucket for the status edits of the whole bot: `burst` at once, then `rate_per_s`.

    `take` never waits: it says how long to wait instead, so that a job finishing meanwhile is delivered at once.
    """

    def __init__(
        self,
        rate_per_s: float = STATUS_EDITS_PER_S,
        burst: float = STATUS_EDITS_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._when = clock()
        self._held_until = 0.0

    def take(self, keep: float = 0.0) -> float:
        """Spend one edit if the bucket holds one beyond `keep`: returns 0.0, else the seconds until it will."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._when) * self.rate_per_s)
        self._when = now
        if now < self._held_until:
            return self._held_until - now
        if self._tokens >= 1.0 + keep:
            self._tokens -= 1.0
            return 0.0
        return (1.0 + keep - self._tokens) / self.rate_per_s

    def hold(self, seconds: float) -> None:
        """No edit for `seconds` (at most a minute): Telegram answered one with 429."""
        self._held_until = max(self._held_until, self.clock() + min(seconds, MAX_HOLD_S))


class StatusPacer:
    """Decides when a status message may show a new status: its own interval, then its chat's, then the bot's
    budget. One for the whole bot."""

    def __init__(self, budget: EditBudget | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget or EditBudget(clock=clock)
        self.clock = clock
        self._chat_free_at: dict[int, float] = {}

    def wait_s(self, chat_id: int, status: JobStatus, last_edit: float) -> float:
        """0.0: edit now (the edit is counted); else the seconds to wait before asking again. `last_edit` is when
        this message was last written."""
        now = self.clock()
        free_at = max(last_edit + edit_interval(status), self._chat_free_at.get(chat_id, 0.0))
        if free_at > now:
            return free_at - now
        wait = self.budget.take(keep=0.0 if status.state == JobState.RUNNING else KEPT_FOR_PROGRESS)
        if wait > 0:
            return wait
        if len(self._chat_free_at) >= MAX_TRACKED_CHATS:
            self._chat_free_at = {chat: at for chat, at in self._chat_free_at.items() if at > now}
        self._chat_free_at[chat_id] = now + (GROUP_INTERVAL_S if chat_id < 0 else CHAT_INTERVAL_S)
        return 0.0

    def flooded(self, retry_after: float) -> None:
        """Telegram answered a status edit with 429: every status edit waits `retry_after`."""
        self.budget.hold(retry_after)
