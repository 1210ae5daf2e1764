-- admit: for jobs a worker has read from the stream, loads their events (each once) and decides
-- which may be attempted now. Per subscriber, across every worker: the circuit breaker (an open
-- circuit parks jobs until a probe succeeds), max_in_flight (leases, so a dead worker's slots free
-- themselves) and rate_limit_per_s (a token bucket holding one second of tokens). A job admitted
-- is marked delivering (its hash is created on its first attempt). A job whose event is gone
-- (retention) is acknowledged and dropped; one whose event's ttl has passed is not admitted.
-- KEYS: none.
-- ARGV: prefix, group, now_ms, then per job 7 values: stream_entry_id, job_id, event_id,
--       subscriber_id, max_in_flight (0: none; -1: the subscriber is disabled, so only the event is
--       checked and the job is not admitted), rate_per_s (0: none), lease_ms.
-- Reply: {verdicts, events}. verdicts: per job {verdict, wait_ms, reason, event_index, leased}:
--        verdict 1 = attempt now (reason "probe" when it tests an open circuit), 0 = ask again
--        after wait_ms (reason "disabled" with max_in_flight -1), 2 = park (the circuit is open),
--        3 = expired (the event's ttl ran out), 4 = dropped (the event no longer exists; the
--        stream entry was acknowledged and deleted); event_index is 1-based into events, 0 with
--        verdict 4; leased is 1 when the job took an in-flight slot (settle frees it).
--        events: per distinct event {topic, data_json, published_at_ms, expires_at_ms}.
local p, group, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local verdicts, events, index, closed = {}, {}, {}, {}
for i = 4, #ARGV, 7 do
  local entry, jid, eid, sid = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local max_in_flight, rate = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local lease = tonumber(ARGV[i + 6])
  local e = index[eid]
  if e == nil then
    local ev = redis.call('HMGET', p .. ':ev:' .. eid, 'topic', 'data', 'published_at',
                          'expires_at')
    if ev[1] then
      events[#events + 1] = ev
      e = #events
    else
      e = false
    end
    index[eid] = e
  end
  local verdict, wait, reason, leased = 1, 0, '', 0
  if not e then
    redis.call('XACK', p .. ':jobs', group, entry)
    redis.call('XDEL', p .. ':jobs', entry)
    verdict, e = 4, 0
  elseif (tonumber(events[e][4]) or 0) > 0 and now > tonumber(events[e][4]) then
    verdict = 3
  elseif max_in_flight < 0 then
    verdict, wait, reason = 0, 30000, 'disabled'
  end
  local cb = p .. ':cb:' .. sid
  if verdict == 1 and not closed[sid] then
    local state = redis.call('HGET', cb, 'state')
    if state == 'open' or state == 'half_open' then
      local probe_at = tonumber(redis.call('HGET', cb, 'probe_at')) or 0
      if now >= probe_at then   -- this job tests the endpoint; nobody else until it reports back
        redis.call('HSET', cb, 'state', 'half_open', 'probe_at', now + lease, 'probe_job', jid)
        redis.call('ZADD', p .. ':cb:probes', now + lease, sid)
        reason = 'probe'
      else
        verdict, reason = 2, 'circuit_open'
      end
    else
      closed[sid] = true   -- nothing in this script opens it
    end
  end
  local fk = p .. ':inflight:' .. sid
  if verdict == 1 and max_in_flight > 0 then
    redis.call('ZREMRANGEBYSCORE', fk, '-inf', now)
    if redis.call('ZSCORE', fk, jid) == false and redis.call('ZCARD', fk) >= max_in_flight then
      verdict, wait, reason = 0, 100, 'max_in_flight'
    end
  end
  if verdict == 1 and rate > 0 then
    local rk = p .. ':rate:' .. sid
    local b = redis.call('HMGET', rk, 'tokens', 'at')
    local tokens, at = tonumber(b[1]) or rate, tonumber(b[2]) or now
    tokens = math.min(rate, tokens + math.max(0, now - at) * rate / 1000)
    if tokens < 1 then
      verdict, wait, reason = 0, math.ceil((1 - tokens) * 1000 / rate), 'rate_limit_per_s'
    else
      tokens = tokens - 1
    end
    redis.call('HSET', rk, 'tokens', tostring(tokens), 'at', now)
    redis.call('PEXPIRE', rk, 60000)
  end
  if verdict == 1 then
    if max_in_flight > 0 then
      redis.call('ZADD', fk, now + lease, jid)
      redis.call('PEXPIRE', fk, lease + 60000)
      leased = 1
    end
    redis.call('HSET', p .. ':job:' .. jid, 'state', 'delivering', 'event', eid, 'sub', sid)
  end
  verdicts[#verdicts + 1] = {verdict, wait, reason, e, leased}
end
return {verdicts, events}
