"""The fleet's shared state in Redis, changed only by the Lua scripts here (each runs atomically in Redis).

Keys, under wire.PREFIX:
    job:<id>      hash: user, state, need (capability tags), hint (batch hint), size, created, attempt, worker,
                  step, total, error, cancel
    req:<id>      hash: the request (wire.request_fields); deleted when the job ends
    line:<user>   list: the user's waiting jobs, oldest first
    turns         list: users with waiting jobs, whose turn comes next first
    inflight      hash: user -> waiting + running jobs (the per-user cap)
    running       hash: user -> running jobs (at most ENGINE_MAX_RUNNING_PER_USER across the fleet)
    waiting       counter of waiting jobs (the global cap, ENGINE_MAX_QUEUE)
    work          stream, group "workers": one entry per job a worker holds (pending until it ends)
    events        stream: every change of every job, for the bots (and the workers' cancel and wake-ups)
    result:<id>   hash with a TTL: the finished job's result without its files (wire.result_meta), the picture store
                  that holds them (stores.py) and the attempt that made them (their names: stores.file_name)
    preview:<id>  string with a TTL: the running job's latest live preview (a small JPEG)
    file:<name>   string with a TTL: one file of a result, with ENGINE_FLEET_STORE=redis
    sweep         string with a TTL: the worker sweeping the picture store now (one at a time)
    counters      hash: done / failed / cancelled across the fleet; done_by: user -> done
    worker:<name> hash with a TTL: what a live worker can do (its heartbeat)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .wire import GROUP, PREFIX

EVENTS_MAXLEN = 10000

PRELUDE = """
local P = ARGV[1]
local function event(id, kind, ...)
  redis.call('XADD', P..'events', 'MAXLEN', '~', @MAXLEN@, '*', 'job', id, 'kind', kind, ...)
end
local function less(hash, user)
  if redis.call('HINCRBY', P..hash, user, -1) <= 0 then redis.call('HDEL', P..hash, user) end
end
local function requeue(id, attempt)
  local job = P..'job:'..id
  if redis.call('HGET', job, 'state') ~= 'running' or redis.call('HGET', job, 'attempt') ~= attempt then
    return 0
  end
  local user = redis.call('HGET', job, 'user')
  less('running', user)
  redis.call('LPUSH', P..'line:'..user, id)
  if redis.call('LLEN', P..'line:'..user) == 1 then redis.call('LPUSH', P..'turns', user) end
  redis.call('INCR', P..'waiting')
  redis.call('HSET', job, 'state', 'waiting', 'worker', '', 'step', 0)
  event(id, 'requeued', 'state', 'waiting')
  return 1
end
"""

# ARGV: prefix, id, user, per-user cap, global cap, need, hint, size, created (ms), keep (s)
SUBMIT = """
local id, user = ARGV[2], ARGV[3]
if tonumber(redis.call('HGET', P..'inflight', user) or '0') >= tonumber(ARGV[4]) then return -1 end
if tonumber(redis.call('GET', P..'waiting') or '0') >= tonumber(ARGV[5]) then return -2 end
local job = P..'job:'..id
redis.call('HSET', job, 'user', user, 'state', 'waiting', 'need', ARGV[6], 'hint', ARGV[7], 'size', ARGV[8],
  'created', ARGV[9], 'attempt', 0, 'step', 0, 'total', 0, 'error', '', 'worker', '')
redis.call('EXPIRE', job, ARGV[10])
redis.call('RPUSH', P..'line:'..user, id)
if redis.call('LLEN', P..'line:'..user) == 1 then redis.call('RPUSH', P..'turns', user) end
redis.call('INCR', P..'waiting')
redis.call('HINCRBY', P..'inflight', user, 1)
event(id, 'submitted', 'state', 'waiting')
return 1
"""

# The fair pick, as engine.queue.FairQueue.pop across the fleet: users in turn, each user's oldest job, only users
# under the running cap, only jobs whose needs the worker has; then other users' jobs with the same batch hint up
# to `limit` pictures. Each job taken becomes an entry of the work stream, delivered to this worker's consumer in
# the same step (no other entry is ever undelivered), so the stream's pending list says who holds what.
# ARGV: prefix, worker, running cap, limit (pictures), capability tags...
TAKE = """
local worker, cap, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local caps = {}
for i = 5, #ARGV do caps[ARGV[i]] = true end
local taken, hint, total = {}, nil, 0
for _, user in ipairs(redis.call('LRANGE', P..'turns', 0, -1)) do
  local line = P..'line:'..user
  local id = redis.call('LINDEX', line, 0)
  local job = id and P..'job:'..id
  local ok = id and tonumber(redis.call('HGET', P..'running', user) or '0') < cap
  if ok and redis.call('EXISTS', job) == 0 then  -- expired while waiting (its TTL): forgotten
    redis.call('LPOP', line)
    redis.call('DECR', P..'waiting')
    less('inflight', user)
    if redis.call('LLEN', line) == 0 then redis.call('LREM', P..'turns', 1, user) end
    ok = false
  end
  if ok then
    for tag in string.gmatch(redis.call('HGET', job, 'need') or '', '%S+') do
      if not caps[tag] then ok = false end
    end
  end
  local size = ok and tonumber(redis.call('HGET', job, 'size')) or 0
  local jhint = ok and redis.call('HGET', job, 'hint') or ''
  if ok and #taken > 0 and (hint == '' or jhint ~= hint or total + size > limit) then ok = false end
  if ok then
    if #taken == 0 then hint = jhint end
    total = total + size
    redis.call('LPOP', line)
    redis.call('LREM', P..'turns', 1, user)
    if redis.call('LLEN', line) > 0 then redis.call('RPUSH', P..'turns', user) end
    redis.call('HINCRBY', P..'running', user, 1)
    redis.call('DECR', P..'waiting')
    local attempt = redis.call('HINCRBY', job, 'attempt', 1)
    redis.call('HSET', job, 'state', 'running', 'worker', worker)
    local entry = redis.call('XADD', P..'work', '*', 'job', id, 'attempt', attempt)
    table.insert(taken, id)
    table.insert(taken, tostring(attempt))
    table.insert(taken, entry)
    event(id, 'running', 'state', 'running', 'worker', worker)
    if hint == '' then break end
  end
end
if #taken > 0 then
  redis.call('XREADGROUP', 'GROUP', '@GROUP@', worker, 'COUNT', #taken / 3, 'STREAMS', P..'work', '>')
end
return taken
"""

# A step, and with a new live preview (a small JPEG, '' for none) that preview: kept under preview:<id>, not in the
# stream, which every bot and worker reads. ARGV: prefix, id, attempt, step, total, preview, preview ttl (s)
PROGRESS = """
local job = P..'job:'..ARGV[2]
if redis.call('HGET', job, 'state') ~= 'running' or redis.call('HGET', job, 'attempt') ~= ARGV[3] then return 0 end
redis.call('HSET', job, 'step', ARGV[4], 'total', ARGV[5])
if ARGV[6] == '' then
  event(ARGV[2], 'progress', 'state', 'running', 'step', ARGV[4], 'total', ARGV[5])
else
  redis.call('SET', P..'preview:'..ARGV[2], ARGV[6], 'EX', ARGV[7])
  event(ARGV[2], 'progress', 'state', 'running', 'step', ARGV[4], 'total', ARGV[5], 'preview', ARGV[3])
end
return 1
"""

# The end of a held job: only the attempt that still holds it counts (a worker that was given up on and came
# back finds its job taken over, and its result is dropped). ARGV: prefix, id, attempt, entry, state, error, keep,
# result ttl
FINISH = """
local id, attempt = ARGV[2], ARGV[3]
local job = P..'job:'..id
local staged = P..'result:'..id..':'..attempt
redis.call('XACK', P..'work', '@GROUP@', ARGV[4])
redis.call('XDEL', P..'work', ARGV[4])
if redis.call('HGET', job, 'state') ~= 'running' or redis.call('HGET', job, 'attempt') ~= attempt then
  redis.call('DEL', staged)
  return 0
end
local user, state = redis.call('HGET', job, 'user'), ARGV[5]
less('running', user)
less('inflight', user)
redis.call('HSET', job, 'state', state, 'error', ARGV[6], 'worker', '')
redis.call('EXPIRE', job, ARGV[7])
redis.call('DEL', P..'req:'..id, P..'preview:'..id)
if state == 'done' and redis.call('EXISTS', staged) == 1 then
  redis.call('RENAME', staged, P..'result:'..id)
  redis.call('EXPIRE', P..'result:'..id, ARGV[8])
  redis.call('HINCRBY', P..'done_by', user, 1)
end
redis.call('HINCRBY', P..'counters', state, 1)
event(id, 'end', 'state', state, 'error', ARGV[6])
return 1
"""

# A dead worker's jobs (entries idle past the visibility timeout: a live worker touches its own) go back to the
# head of their users' lines. ARGV: prefix, claimer, min idle (ms)
RECLAIM = """
local claimed = redis.call('XAUTOCLAIM', P..'work', '@GROUP@', ARGV[2], ARGV[3], '0-0', 'COUNT', 100)
local back = {}
for _, entry in ipairs(claimed[2]) do
  local fields = {}
  for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
  redis.call('XACK', P..'work', '@GROUP@', entry[1])
  redis.call('XDEL', P..'work', entry[1])
  if requeue(fields['job'], fields['attempt']) == 1 then table.insert(back, fields['job']) end
end
return back
"""

# A worker that stops gives its jobs back at once. ARGV: prefix, id, attempt, entry
RELEASE = """
redis.call('XACK', P..'work', '@GROUP@', ARGV[4])
redis.call('XDEL', P..'work', ARGV[4])
return requeue(ARGV[2], ARGV[3])
"""

# Waiting: out of the line, ended with `state`/`error` (a cancel, a wait timeout, no worker for it). Running: the
# holder is told (an event and the job's `cancel` field) and stops between steps. ARGV: prefix, id, state, error,
# keep
CANCEL = """
local id = ARGV[2]
local job = P..'job:'..id
local state = redis.call('HGET', job, 'state')
if state == 'waiting' then
  local user = redis.call('HGET', job, 'user')
  redis.call('LREM', P..'line:'..user, 1, id)
  if redis.call('LLEN', P..'line:'..user) == 0 then redis.call('LREM', P..'turns', 1, user) end
  redis.call('DECR', P..'waiting')
  less('inflight', user)
  redis.call('HSET', job, 'state', ARGV[3], 'error', ARGV[4])
  redis.call('EXPIRE', job, ARGV[5])
  redis.call('DEL', P..'req:'..id)
  redis.call('HINCRBY', P..'counters', ARGV[3], 1)
  event(id, 'end', 'state', ARGV[3], 'error', ARGV[4])
  return 1
elseif state == 'running' then
  redis.call('HSET', job, 'cancel', ARGV[4])
  event(id, 'cancel', 'error', ARGV[4])
  return 2
end
return 0
"""

# The line as the bots show it: users in turn with their waiting jobs and running counts. ARGV: prefix
LINE = """
local out = {}
for _, user in ipairs(redis.call('LRANGE', P..'turns', 0, -1)) do
  table.insert(out, {user, tonumber(redis.call('HGET', P..'running', user) or '0'),
    redis.call('LRANGE', P..'line:'..user, 0, -1)})
end
return out
"""


@dataclass(frozen=True)
class Held:
    """A job a worker took: its id, which attempt at it this is, and its entry in the work stream."""

    job: str
    attempt: str
    entry: str


class Scripts:
    """The Lua scripts bound to one Redis client (redis-py loads each once, and again after a Redis restart)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

        def load(body: str):
            source = (PRELUDE + body).replace("@GROUP@", GROUP).replace("@MAXLEN@", str(EVENTS_MAXLEN))
            return redis.register_script(source)

        self._submit, self._take, self._progress = load(SUBMIT), load(TAKE), load(PROGRESS)
        self._finish, self._reclaim, self._release = load(FINISH), load(RECLAIM), load(RELEASE)
        self._cancel, self._line = load(CANCEL), load(LINE)

    async def ensure_group(self) -> None:
        """The work stream and its consumer group (kept by Redis's append-only file; made again if lost)."""
        try:
            await self.redis.xgroup_create(PREFIX + "work", GROUP, id="$", mkstream=True)
        except Exception as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def submit(self, job: str, user: str, caps: tuple[int, int], need: str, hint: str, size: int, now_ms: int,
                     keep_s: int) -> int:  # fmt: skip
        """1: in line; -1: the user's cap; -2: the global cap."""
        args = [PREFIX, job, user, caps[0], caps[1], need, hint, size, now_ms, keep_s]
        return int(await self._submit(args=args))

    async def take(self, worker: str, running_cap: int, limit: int, tags: list[str]) -> list[Held]:
        try:
            flat = await self._take(args=[PREFIX, worker, running_cap, limit, *tags])
        except Exception as error:
            if "NOGROUP" not in str(error):
                raise
            await self.ensure_group()  # Redis came back without its data: the line starts empty, the group anew
            return []
        flat = [item.decode() if isinstance(item, bytes) else str(item) for item in flat]
        return [Held(*flat[i : i + 3]) for i in range(0, len(flat), 3)]

    async def progress(self, held: Held, step: int, total: int, preview: bytes | None = None, keep_s: int = 60) -> None:
        await self._progress(args=[PREFIX, held.job, held.attempt, step, total, preview or b"", keep_s])

    async def finish(self, held: Held, state: str, error: str, keep_s: int, result_ttl_s: int) -> bool:
        args = [PREFIX, held.job, held.attempt, held.entry, state, error, keep_s, result_ttl_s]
        return bool(await self._finish(args=args))

    async def reclaim(self, claimer: str, idle_ms: int) -> list[str]:
        back = await self._reclaim(args=[PREFIX, claimer, idle_ms])
        return [item.decode() for item in back]

    async def release(self, held: Held) -> bool:
        return bool(await self._release(args=[PREFIX, held.job, held.attempt, held.entry]))

    async def cancel(self, job: str, state: str, error: str, keep_s: int) -> int:
        """1: ended while waiting; 2: its worker was told to stop; 0: not waiting or running."""
        return int(await self._cancel(args=[PREFIX, job, state, error, keep_s]))

    async def line(self) -> list[tuple[str, int, list[str]]]:
        rows = await self._line(args=[PREFIX])
        return [(user.decode(), int(running), [job.decode() for job in jobs]) for user, running, jobs in rows]

    async def touch(self, worker: str, entries: list[str]) -> None:
        """A live worker's jobs are not idle: their entries' idle time goes back to 0 (XCLAIM to itself)."""
        if entries:
            await self.redis.xclaim(PREFIX + "work", GROUP, worker, 0, entries, justid=True)
