"""A fair line of waiting jobs: round-robin across users, with per-user and global caps.

Plain data structure, no I/O and no locks: the engine touches it only from its event loop.
A user with ten waiting jobs delays a user with one by at most one job: the next job always comes from
the next user in turn, not from the head of one long line.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, Protocol, TypeVar


class Queued(Protocol):
    id: str
    user: str


T = TypeVar("T", bound=Queued)


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        # user -> that user's waiting jobs, oldest first; dict order = whose turn comes next.
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def waiting_of(self, user: str) -> int:
        return len(self._lines.get(user, ()))

    def push(self, job: T) -> None:
        self._lines.setdefault(job.user, deque()).append(job)

    def remove(self, job: T) -> bool:
        line = self._lines.get(job.user)
        if not line or job not in line:
            return False
        line.remove(job)
        if not line:
            del self._lines[job.user]
        return True

    def order(self, eligible: Callable[[str], bool] = lambda user: True) -> Iterator[T]:
        """Jobs in the order they would run: one per user per round, users in turn."""
        lines = [list(line) for user, line in self._lines.items() if eligible(user)]
        lines += [list(line) for user, line in self._lines.items() if not eligible(user)]
        depth = max((len(line) for line in lines), default=0)
        for round_ in range(depth):
            for line in lines:
                if round_ < len(line):
                    yield line[round_]

    def positions(self, eligible: Callable[[str], bool] = lambda user: True) -> dict[str, int]:
        """job id -> 1-based place in line."""
        return {job.id: place for place, job in enumerate(self.order(eligible), start=1)}

    def pop(
        self,
        eligible: Callable[[str], bool] = lambda user: True,
        key: Callable[[T], Hashable | None] | None = None,
        limit: int = 1,
        size: Callable[[T], int] = lambda job: 1,
    ) -> list[T]:
        """The next job by turn, plus (when `key` is given) compatible jobs of *other* users, up to `limit`
        in total size. Each user contributes at most their oldest job; the users served go to the back."""
        taken: list[T] = []
        batch_key = None
        total = 0
        for user in list(self._lines):
            if not eligible(user):
                continue
            job = self._lines[user][0]
            if taken:
                if key is None or batch_key is None or key(job) != batch_key or total + size(job) > limit:
                    continue
            else:
                batch_key = key(job) if key is not None else None
            taken.append(job)
            total += size(job)
            self._lines[user].popleft()
            line = self._lines.pop(user)
            if line:
                self._lines[user] = line  # to the back of the turn order
            if key is None or batch_key is None:
                break
        return taken
