"""The Redis backplane: several Jupyter servers share rooms, awareness and events.

What goes where (keys under ``{prefix}:``; every key of one room carries the hash tag
``{room}``, and a lease's keys the tag ``{name}``, so that each script touches one Redis
Cluster slot):

- ``room:{room}:log:{instance}`` — one stream per room and writer: the updates that instance
  applied for its own clients (field ``u``). An instance follows the streams of the *other*
  writers of the rooms it has open, so it never reads back what it wrote; the updates it
  applies from there have the origin ``REMOTE`` and are never published again.
- ``room:{room}:writers`` — the set of instances with a stream for the room. An instance enrols
  with its first update and announces it over pub/sub (``w``); followers also re-read the set
  with every heartbeat, in case an announcement was lost.
- ``room:{room}:snap`` — a hash ``{data, last}``: the room folded through stream id ``last[w]``
  of each writer ``w``. Opening a room reads snapshot, writers and streams in one Lua script
  (atomic), then follows from each stream's tail. One instance at a time
  (``room:{room}:lease``) folds the streams into the snapshot, trims entries older than
  ``trim_grace`` seconds, and drops the emptied streams of instances that are gone. An
  instance folds a room after appending ``compact_max_updates`` updates to it, and
  ``compact_idle`` seconds after its last one.
- ``events`` — one stream for all channels, so one cursor serves any set of channels. Event ids
  are ``{stream id}@{epoch}``. Every instance reads the stream and delivers entries, its own
  included, in stream order.
- ``awareness`` — a pub/sub channel: awareness may be lost, and is renewed by clients anyway.
- ``instance:{id}`` — a heartbeat with a TTL: the live instances and their rooms. When one
  disappears, the others drop its awareness states at once.
- ``lease:{name}`` — a role one instance at a time holds (``lease:webhooks``: sending the
  outgoing webhooks), with ``lease:{name}:value``, what its holders hand on to each other.
- ``epoch`` — created once. If it changes or vanishes, Redis lost its data: instances publish
  the full state of their open rooms again (a CRDT merge makes that safe) and event cursors of
  the old epoch get a ``reset``.

Redis is the source of truth for rooms and events; each instance's SQLite store remains a local
journal of the rooms it served (it is how their state comes back if Redis loses it). When the
instances share their store instead (PostgreSQL, a shared SQLite file), the store is the system
of record and Redis the hot path: :mod:`.persistence` persists each room's streams there under
the room's lease, trims them, and lets idle rooms leave Redis.

Whatever is read back from Redis is untrusted: malformed entries are skipped, logged and counted
(:mod:`.entries`). The parts, each behind a small public interface:

- :mod:`.connection` — clients, keys, redis-py's retry policy, the epoch;
- :mod:`.outbox` — the hot path out: updates and awareness, in order, on one connection;
- :mod:`.rooms` — reading, following and folding room streams;
- :mod:`.awareness` — the pub/sub channel;
- :mod:`.events` — the event log over one stream;
- :mod:`.instances` — heartbeats and the list of live instances;
- :mod:`.revocations` — revoked tokens, shared (hash ``revoked``, announced on ``awareness``);
- :mod:`.leases` — one instance at a time (folds, the webhook sender);
- :mod:`.persistence` — with a shared store: persisting, trimming and expiring rooms;
- :mod:`.backplane` — :class:`RedisBackplane`, which puts them together.

Importing this package needs redis-py (``pip install jupyter_omniforge[redis]``).
"""

from .backplane import RedisBackplane
from .events import RedisEventLog

__all__ = ["RedisBackplane", "RedisEventLog"]
