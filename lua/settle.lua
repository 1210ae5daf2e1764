-- settle: records the outcome of one delivery attempt and moves the job on: done, retried later,
-- dead-lettered, discarded, gone, expired, handed back or parked behind an open circuit. Removes the
-- stream entry the worker held, frees its in-flight slot, and feeds the subscriber's circuit breaker.
-- Creates the job's hash if no attempt made it yet. The first attempt's record is kept in the hash
-- (fields a1 and a1_error: short values keep the hash a compact listpack), later ones in the job's
-- :log list as "at_ms,status,latency_ms,error"; GET /v1/events turns both into its attempts.
-- KEYS: none.
-- ARGV: prefix, group, entry_id, job_id, subscriber_id, state (delivered | retrying | dead |
--       discarded | gone | expired | pending: handed back unattempted, at due_ms if > 0 |
--       parked: waits for the subscriber's circuit to close), attempts
--       (count so far), attempt ("at_ms,status,latency_ms"; "" if no attempt was made), due_ms
--       (retrying, pending), now_ms, last_status, last_error (the attempt's; with no attempt, why
--       none was made, "" to keep the previous ones),
--       retention_s, breaker (ok: the endpoint answered well | fail: it did not | "": no report),
--       breaker_failures (consecutive failures that open the circuit; 0: never), probe_ms (first
--       wait before probing an open circuit; doubles up to 64 times that), event_id, leased (1: the
--       job holds an in-flight slot to free; 0: it took none).
-- Reply: 1.
local p, group, entry, jid, sid, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now, retention = tonumber(ARGV[10]), tonumber(ARGV[13])
local breaker, threshold, probe_ms = ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16])
local eid = ARGV[17]
local cb = p .. ':cb:' .. sid
if breaker == 'ok' then
  if redis.call('DEL', cb) == 1 then   -- the circuit closes: parked jobs go back on the stream
    redis.call('ZREM', p .. ':cb:probes', sid)
    redis.call('SREM', p .. ':cb:open', sid)
    redis.call('SADD', p .. ':unpark', sid)
  end
elseif breaker == 'fail' and threshold > 0 then
  local failures = redis.call('HINCRBY', cb, 'failures', 1)
  local state = redis.call('HGET', cb, 'state')
  if state == 'half_open' or (state ~= 'open' and failures >= threshold) then
    local interval = tonumber(redis.call('HGET', cb, 'interval')) or probe_ms / 2
    interval = math.min(interval * 2, probe_ms * 64)
    redis.call('HSET', cb, 'state', 'open', 'interval', interval, 'probe_at', now + interval,
               'opened_at', redis.call('HGET', cb, 'opened_at') or now)
    redis.call('ZADD', p .. ':cb:probes', now + interval, sid)
    redis.call('SADD', p .. ':cb:open', sid)
  end
end
redis.call('XACK', p .. ':jobs', group, entry)
redis.call('XDEL', p .. ':jobs', entry)
if ARGV[18] == '1' then redis.call('ZREM', p .. ':inflight:' .. sid, jid) end
local jk = p .. ':job:' .. jid
-- a parked job is still pending for the API; last_error says why it waits
if ARGV[8] ~= '' or ARGV[12] ~= '' then
  redis.call('HSET', jk, 'state', state == 'parked' and 'pending' or state, 'attempts', ARGV[7],
             'updated_at', now, 'event', eid, 'sub', sid, 'last_status', ARGV[11],
             'last_error', ARGV[12])
else
  redis.call('HSET', jk, 'state', state == 'parked' and 'pending' or state, 'attempts', ARGV[7],
             'updated_at', now, 'event', eid, 'sub', sid)
end
redis.call('EXPIRE', jk, retention)
if ARGV[8] ~= '' then
  if redis.call('HSETNX', jk, 'a1', ARGV[8]) == 1 then
    if ARGV[12] ~= '' then redis.call('HSET', jk, 'a1_error', ARGV[12]) end
  else
    redis.call('RPUSH', jk .. ':log', ARGV[8] .. ',' .. ARGV[12])
    redis.call('EXPIRE', jk .. ':log', retention)
  end
end
if state == 'parked' then
  redis.call('ZADD', p .. ':parked:' .. sid, now, jid)
  -- make sure a probe is scheduled: promote may have dropped the circuit from the probe list
  -- when nothing was parked
  local probe_at = redis.call('HGET', cb, 'probe_at')
  if probe_at then redis.call('ZADD', p .. ':cb:probes', 'NX', probe_at, sid) end
elseif state == 'pending' and tonumber(ARGV[9]) > 0 then
  redis.call('ZADD', p .. ':delayed', tonumber(ARGV[9]), jid)
elseif state == 'pending' then
  redis.call('XADD', p .. ':jobs', '*', 'j', jid, 'e', eid, 's', sid, 'a', ARGV[7])
elseif state == 'retrying' then
  redis.call('ZADD', p .. ':delayed', tonumber(ARGV[9]), jid)
elseif state == 'dead' then
  redis.call('HSET', jk, 'dead_at', now)
  redis.call('ZADD', p .. ':dead', now, jid)
  redis.call('ZADD', p .. ':dead:' .. sid, now, jid)
end
return 1
