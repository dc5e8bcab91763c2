"""Several GPU workers behind Redis: the bot's `FleetService` (an ImageService) and `python -m engine.worker`.

The fair line, the caps and the hand-over to a worker are Lua scripts over Redis data (scripts.py); jobs held by
workers are entries of a Redis stream read by one consumer group, so that a dead worker's jobs are found in the
group's pending entries and claimed back (XAUTOCLAIM). docs/FLEET.md has the design and its reasons.
"""
