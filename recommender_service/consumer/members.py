"""Members of the consumer group: dead replicas' consumers are removed.

Consumer names are stable per replica (`CONSUMER_NAME`, by default the host name and
`REPLICA_ID`), so a restarted replica takes its own name back and re-reads its own pending
entries (`StreamConsumer`); the name of a replica that is gone for good stays in the group. A
consumer idle for `CONSUMER_IDLE_DELETE_MS` with nothing pending is removed (XGROUP
DELCONSUMER). The check and the removal are one script: a consumer that reads an entry between
the two would otherwise lose that entry's pending record with it.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_FORGET_IF_IDLE = """
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] == ARGV[2] then
    if tonumber(info['pending']) == 0 and tonumber(info['idle']) >= tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
"""


async def forget_idle_consumers(
    redis: aioredis.Redis, *, stream: str, group: str, keep: str, idle_ms: int
) -> list[str]:
    """Removes the group's consumers idle for `idle_ms` with nothing pending, except `keep`
    (the caller itself); returns their names."""
    consumers: Any = await redis.xinfo_consumers(stream, group)
    removed = []
    for consumer in consumers:
        name = consumer["name"]
        if name == keep or int(consumer["pending"]) or int(consumer["idle"]) < idle_ms:
            continue
        if await redis.eval(_FORGET_IF_IDLE, 1, stream, group, name, idle_ms):
            removed.append(name)
    if removed:
        log.info("consumer group %s: removed idle consumers %s", group, ", ".join(removed))
    return removed
