"""The fair line on its own: round-robin across users, positions, batches of compatible jobs."""

from __future__ import annotations

from dataclasses import dataclass

from engine.queue import FairQueue


@dataclass(eq=False)
class J:
    id: str
    user: str
    kind: str = "a"


def fill(spec: str) -> FairQueue[J]:
    """'h1 h2 h3 l1' -> jobs in arrival order; the letter is the user."""
    queue: FairQueue[J] = FairQueue()
    for name in spec.split():
        queue.push(J(name, name[0]))
    return queue


def drain(queue: FairQueue[J]) -> list[str]:
    order = []
    while len(queue):
        order += [job.id for job in queue.pop()]
    return order


def test_a_light_user_waits_behind_at_most_one_job_of_a_heavy_user():
    queue = fill("h1 h2 h3 h4 h5 h6 h7 h8 h9 h10 l1")
    assert drain(queue)[:2] == ["h1", "l1"]


def test_round_robin_interleaves_three_users():
    queue = fill("a1 a2 a3 b1 b2 c1")
    assert drain(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_positions_follow_the_order_jobs_will_run_in():
    queue = fill("h1 h2 h3 l1")
    assert queue.positions() == {"h1": 1, "l1": 2, "h2": 3, "h3": 4}


def test_users_at_their_running_cap_are_skipped_but_keep_their_place():
    queue = fill("h1 h2 l1")
    busy = {"h"}
    assert [job.id for job in queue.pop(eligible=lambda user: user not in busy)] == ["l1"]
    assert [job.id for job in queue.pop()] == ["h1"]


def test_removing_a_waiting_job_moves_the_others_up():
    queue = fill("a1 b1 c1")
    b1 = next(job for job in queue.order() if job.id == "b1")
    assert queue.remove(b1)
    assert not queue.remove(b1)
    assert queue.positions() == {"a1": 1, "c1": 2}


def test_a_batch_takes_compatible_heads_of_other_users_only():
    queue: FairQueue[J] = FairQueue()
    for job in [J("a1", "a"), J("a2", "a"), J("b1", "b", "other"), J("c1", "c"), J("d1", "d")]:
        queue.push(job)
    batch = queue.pop(key=lambda job: job.kind, limit=3)
    assert [job.id for job in batch] == ["a1", "c1", "d1"]  # a2 is a's second job; b1 does not fit
    assert [job.id for job in queue.order()] == ["b1", "a2"]


def test_a_batch_respects_its_size_limit():
    queue = fill("a1 b1 c1")
    batch = queue.pop(key=lambda job: job.kind, limit=5, size=lambda job: 2)
    assert [job.id for job in batch] == ["a1", "b1"]
