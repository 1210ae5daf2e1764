-- replay: puts a dead-lettered job back on the stream with a fresh attempt count; its webhook-id
-- (the job id) and attempt history stay. A replay says the operator believes the endpoint works
-- again, so the subscriber's circuit is closed (it opens again if the endpoint still fails).
-- KEYS: none.
-- ARGV: prefix, job_id, due_ms (0: now; else the job waits in the delayed set until then, which is
--       how bulk replays are spread out at a bounded rate).
-- Reply: 1 if replayed, 0 if the job is not a dead letter.
local p, jid = ARGV[1], ARGV[2]
local jk = p .. ':job:' .. jid
local j = redis.call('HMGET', jk, 'sub', 'event')
local sid = j[1]
if redis.call('ZREM', p .. ':dead', jid) == 0 or not sid then return 0 end
redis.call('ZREM', p .. ':dead:' .. sid, jid)
if redis.call('DEL', p .. ':cb:' .. sid) == 1 then
  redis.call('ZREM', p .. ':cb:probes', sid)
  redis.call('SREM', p .. ':cb:open', sid)
  redis.call('SADD', p .. ':unpark', sid)
end
redis.call('HSET', jk, 'state', 'pending', 'attempts', 0)
redis.call('HDEL', jk, 'dead_at')
local due = tonumber(ARGV[3]) or 0
if due > 0 then
  redis.call('ZADD', p .. ':delayed', due, jid)
else
  redis.call('XADD', p .. ':jobs', '*', 'j', jid, 'e', j[2], 's', sid, 'a', 0)
end
return 1
