-- promote: moves jobs whose time has come onto the stream: retries and deliver_at jobs from the
-- delayed set; one parked job per open circuit whose probe is due (it becomes the probe); and the
-- parked jobs of circuits that just closed, a batch per call. A stream entry names the job, its
-- event, its subscriber and its attempts so far (from the job's hash; a job whose hash has expired
-- is dropped).
-- Safe to run from every worker at once: each job moves exactly once.
-- KEYS: none.
-- ARGV: prefix, now_ms, limit.
-- Reply: the number of jobs moved.
local p, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local stream = p .. ':jobs'
local moved = 0
local function enqueue(jid)
  local j = redis.call('HMGET', p .. ':job:' .. jid, 'event', 'sub', 'attempts')
  if not j[1] then return end
  redis.call('XADD', stream, '*', 'j', jid, 'e', j[1], 's', j[2], 'a', j[3] or 0)
  moved = moved + 1
end
local due = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, limit)
for _, jid in ipairs(due) do
  redis.call('ZREM', p .. ':delayed', jid)
  enqueue(jid)
end
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', p .. ':cb:probes', '-inf', now, 'LIMIT', 0, 100)) do
  local first = redis.call('ZPOPMIN', p .. ':parked:' .. sid, 1)
  if first[1] then
    enqueue(first[1])
    -- no second probe from here until admit has made this one the probe (or its lease ran out)
    redis.call('ZADD', p .. ':cb:probes', tonumber(now) + 60000, sid)
  else
    redis.call('ZREM', p .. ':cb:probes', sid)  -- nothing parked: the next new job will probe
  end
end
for _, sid in ipairs(redis.call('SRANDMEMBER', p .. ':unpark', 10)) do
  local batch = redis.call('ZPOPMIN', p .. ':parked:' .. sid, limit)
  for k = 1, #batch, 2 do enqueue(batch[k]) end
  if redis.call('ZCARD', p .. ':parked:' .. sid) == 0 then redis.call('SREM', p .. ':unpark', sid) end
end
return moved
