"""What administrators see: /stats (queue, jobs, per-user counts, device memory, limits) and the access lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from locales import Texts

from .access import AccessLists

TOP_USERS = 10


def stats_text(
    texts: Texts,
    stats: Mapping,
    memory: Mapping,
    delivering: int,
    uptime_s: float,
    limits: Mapping[str, int],
    access: AccessLists,
) -> str:
    per_user = sorted(stats.get("per_user_done", {}).items(), key=lambda item: (-item[1], item[0]))
    users = ", ".join(f"{user}: {count}" for user, count in per_user[:TOP_USERS])
    if len(per_user) > TOP_USERS:
        users += texts.plain("admin-more", count=len(per_user) - TOP_USERS)
    lines = [
        texts("admin-stats", uptime=_duration(texts, uptime_s)),
        texts(
            "admin-queue",
            waiting=stats.get("waiting", 0),
            running=stats.get("running", 0),
            delivering=delivering,
        ),
        texts(
            "admin-jobs",
            done=stats.get("done", 0),
            failed=stats.get("failed", 0),
            cancelled=stats.get("cancelled", 0),
            refused=stats.get("refused", 0),
        ),
        texts("admin-users", users=users) if users else texts("admin-no-users"),
        memory_line(texts, memory),
        texts("admin-limits", count=limits["rate"], burst=limits["burst"])
        + " "
        + (texts("admin-quota", count=limits["quota"]) if limits["quota"] else texts("admin-no-quota")),
        access_line(texts, access),
    ]
    return "\n".join(lines)


def memory_line(texts: Texts, memory: Mapping) -> str:
    if "total_mb" in memory:
        return texts(
            "admin-memory-gpu",
            device=memory["device"],
            used=memory["used_mb"],
            total=memory["total_mb"],
            allocated=memory["allocated_mb"],
            reserved=memory["reserved_mb"],
            peak=memory["peak_mb"],
        )
    return texts("admin-memory-cpu", rss=memory.get("rss_mb", 0), peak=memory.get("peak_mb", 0))


def access_line(texts: Texts, access: AccessLists) -> str:
    if not (access.admins or access.configured):
        return texts("admin-access-open")
    return texts(
        "admin-access",
        configured=len(access.configured),
        added=len(access.added),
        removed=len(access.removed),
    )


def access_lists_text(texts: Texts, access: AccessLists) -> str:
    return texts(
        "admin-access-lists",
        admins=_ids(texts, access.admins),
        configured=_ids(texts, access.configured),
        added=_ids(texts, access.added),
        removed=_ids(texts, access.removed),
    )


def _ids(texts: Texts, ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids)) or texts.plain("admin-none")


def _duration(texts: Texts, seconds: float) -> str:
    minutes = int(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return texts.plain("admin-uptime-days", days=days, hours=hours)
    return texts.plain("admin-uptime", hours=hours, minutes=minutes)
