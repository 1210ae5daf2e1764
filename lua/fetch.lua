-- fetch: loads what a worker needs to deliver the jobs it just read from the stream, and marks them
-- delivering. A job whose keys have expired (retention) is acknowledged and skipped.
-- KEYS: none.
-- ARGV: prefix, group, then pairs of stream_entry_id, job_id.
-- Reply: one entry per job still present: {entry_id, job_id, subscriber_id, attempts_so_far,
--        event_id, topic, data_json, published_at_ms, expires_at_ms}.
local p, group = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV, 2 do
  local entry, jid = ARGV[i], ARGV[i + 1]
  local jk = p .. ':job:' .. jid
  local j = redis.call('HMGET', jk, 'event', 'sub', 'attempts')
  local ev = j[1] and redis.call('HMGET', p .. ':ev:' .. j[1], 'topic', 'data', 'published_at',
                                 'expires_at')
  if not j[1] or not ev[1] then
    redis.call('XACK', p .. ':jobs', group, entry)
    redis.call('XDEL', p .. ':jobs', entry)
  else
    redis.call('HSET', jk, 'state', 'delivering')
    out[#out + 1] = {entry, jid, j[2], j[3], j[1], ev[1], ev[2], ev[3], ev[4]}
  end
end
return out
