-- promote: moves jobs whose retry or deliver_at time has come from the delayed set to the stream.
-- Safe to run from every worker at once: each job moves exactly once.
-- KEYS: none.
-- ARGV: prefix, now_ms, limit.
-- Reply: the number of jobs moved.
local p = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', ARGV[2], 'LIMIT', 0,
                       tonumber(ARGV[3]))
for _, jid in ipairs(due) do
  redis.call('ZREM', p .. ':delayed', jid)
  redis.call('XADD', p .. ':jobs', '*', 'j', jid)
end
return #due
