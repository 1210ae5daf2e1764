-- settle: records the outcome of one delivery attempt and moves the job on: done, retried later,
-- dead-lettered, discarded, gone or expired. Removes the stream entry the worker held.
-- KEYS: none.
-- ARGV: prefix, group, entry_id, job_id, subscriber_id, state (delivered | retrying | dead |
--       discarded | gone | expired | pending: handed back unattempted, at due_ms if > 0), attempts
--       (count so far), attempt_json ("" if no attempt was made), due_ms (retrying, pending),
--       now_ms, last_status, last_error ("" with no attempt_json: keep the previous ones),
--       retention_s.
-- Reply: 1, or 0 if the job no longer exists.
local p, group, entry, jid, sid, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now, retention = tonumber(ARGV[10]), tonumber(ARGV[13])
redis.call('XACK', p .. ':jobs', group, entry)
redis.call('XDEL', p .. ':jobs', entry)
redis.call('ZREM', p .. ':inflight:' .. sid, jid)
local jk = p .. ':job:' .. jid
if redis.call('EXISTS', jk) == 0 then return 0 end
redis.call('HSET', jk, 'state', state, 'attempts', ARGV[7], 'updated_at', now)
if ARGV[8] ~= '' or ARGV[12] ~= '' then
  redis.call('HSET', jk, 'last_status', ARGV[11], 'last_error', ARGV[12])
end
if ARGV[8] ~= '' then
  redis.call('RPUSH', jk .. ':log', ARGV[8])
  redis.call('EXPIRE', jk .. ':log', retention)
end
if state == 'pending' and tonumber(ARGV[9]) > 0 then
  redis.call('ZADD', p .. ':delayed', tonumber(ARGV[9]), jid)
elseif state == 'pending' then
  redis.call('XADD', p .. ':jobs', '*', 'j', jid)
elseif state == 'retrying' then
  redis.call('ZADD', p .. ':delayed', tonumber(ARGV[9]), jid)
elseif state == 'dead' then
  redis.call('HSET', jk, 'dead_at', now)
  redis.call('ZADD', p .. ':dead', now, jid)
  redis.call('ZADD', p .. ':dead:' .. sid, now, jid)
  redis.call('EXPIRE', jk, retention)
end
return 1
