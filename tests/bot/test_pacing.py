"""Pacing of status edits: a place far back in line is shown seldom, progress and the front of the line sooner,
one chat and the whole bot get a bounded number of edits, and a 429 pauses them all."""

from __future__ import annotations

import pytest

from bot.pacing import (
    FAR_BACK_INTERVAL_S,
    GROUP_INTERVAL_S,
    NEAR_FRONT_INTERVAL_S,
    PROGRESS_INTERVAL_S,
    EditBudget,
    StatusPacer,
)
from engine.api import JobState, JobStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waiting(position: int) -> JobStatus:
    return JobStatus("job", "1", JobState.WAITING, position=position)


def drawing(step: int) -> JobStatus:
    return JobStatus("job", "1", JobState.RUNNING, step=step, total_steps=10)


@pytest.mark.parametrize(
    ("status", "interval"),
    [(waiting(40), FAR_BACK_INTERVAL_S), (waiting(2), NEAR_FRONT_INTERVAL_S), (drawing(3), PROGRESS_INTERVAL_S)],
)
def test_a_message_waits_longer_the_further_back_in_line_it_is(status: JobStatus, interval: float):
    clock = Clock()
    pacer = StatusPacer(clock=clock)
    last_edit = clock.now
    clock.now += interval - 0.1
    assert pacer.wait_s(1, status, last_edit) == pytest.approx(0.1)
    clock.now += 0.1
    assert pacer.wait_s(1, status, last_edit) == 0.0


def test_one_chat_gets_an_edit_a_second_and_a_group_one_every_three():
    clock = Clock()
    pacer = StatusPacer(clock=clock)
    long_ago = clock.now - 60
    assert pacer.wait_s(7, drawing(1), long_ago) == 0.0
    assert pacer.wait_s(7, drawing(2), long_ago) == pytest.approx(1.0), "another job's status in the same chat"
    assert pacer.wait_s(8, drawing(2), long_ago) == 0.0, "another chat is not held up"
    assert pacer.wait_s(-100, drawing(1), long_ago) == 0.0
    assert pacer.wait_s(-100, drawing(2), long_ago) == pytest.approx(GROUP_INTERVAL_S)


def test_the_bot_wide_budget_bounds_edits_and_keeps_some_for_progress():
    clock = Clock()
    budget = EditBudget(rate_per_s=5, burst=10, clock=clock)
    assert [budget.take(keep=2) for _ in range(8)] == [0.0] * 8
    assert budget.take(keep=2) == pytest.approx(0.2), "places in line leave two edits for progress"
    assert budget.take() == 0.0 and budget.take() == 0.0
    assert budget.take() == pytest.approx(0.2)
    clock.now += 10
    assert sum(budget.take() == 0.0 for _ in range(100)) == 10, "a full bucket holds `burst` edits"


def test_a_429_pauses_every_status_edit_for_retry_after():
    clock = Clock()
    pacer = StatusPacer(clock=clock)
    pacer.flooded(7)
    assert pacer.wait_s(1, drawing(1), clock.now - 60) == pytest.approx(7)
    assert pacer.wait_s(2, waiting(9), clock.now - 60) == pytest.approx(7)
    clock.now += 7
    assert pacer.wait_s(1, drawing(1), clock.now - 60) == 0.0
