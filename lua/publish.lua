-- publish: stores one event and enqueues all its jobs, atomically. A job is one stream entry naming
-- the job, its event and its subscriber; its hash (state, attempts) is created when a worker first
-- takes it (until then GET /v1/events reads it as pending). A job due later (deliver_at) gets its
-- hash now and waits in the delayed set.
-- Every key is ARGV[1] (the prefix) .. a suffix; a prefix like "{sy}" puts them in one Cluster slot.
-- KEYS: none.
-- ARGV: prefix, event_id, topic, data_json, published_at_ms, expires_at_ms (0: never),
--       due_ms (0: now, else the deliver_at time), retention_s, idempotency_key ("": none),
--       jobs (the event's "jobs" field: job_id:subscriber_id pairs joined by ","),
--       then pairs of job_id, subscriber_id.
-- Reply: {event_id, 1} when stored; {first_event_id, 0} when the idempotency key was seen in 24 h.
local p = ARGV[1]
local idem = ARGV[9]
if idem ~= '' then
  local first = redis.call('GET', p .. ':idem:' .. idem)
  if first then return {first, 0} end
end
-- numbers stay strings on their way to Redis: a Lua number would be formatted with %.17g per call
local eid, retention, due = ARGV[2], ARGV[8], ARGV[7]
local ev = p .. ':ev:' .. eid
local call = redis.call
call('HSET', ev, 'topic', ARGV[3], 'data', ARGV[4], 'published_at', ARGV[5],
     'expires_at', ARGV[6], 'jobs', ARGV[10])
call('EXPIRE', ev, retention)
if due ~= '0' then
  for i = 11, #ARGV, 2 do
    local jid = ARGV[i]
    local jk = p .. ':job:' .. jid
    call('HSET', jk, 'event', eid, 'sub', ARGV[i + 1], 'state', 'pending', 'attempts', '0')
    call('EXPIRE', jk, retention)
    call('ZADD', p .. ':delayed', due, jid)
  end
else
  local stream = p .. ':jobs'
  for i = 11, #ARGV, 2 do
    call('XADD', stream, '*', 'j', ARGV[i], 'e', eid, 's', ARGV[i + 1], 'a', '0')
  end
end
if idem ~= '' then redis.call('SET', p .. ':idem:' .. idem, eid, 'EX', 86400) end
return {eid, 1}
