-- admit: decides, for a batch of jobs a worker just took, which may be attempted now. Per subscriber,
-- across every worker: the circuit breaker (an open circuit parks jobs until a probe succeeds),
-- max_in_flight (leases, so a dead worker's slots free themselves) and rate_limit_per_s (a token
-- bucket holding one second of tokens).
-- KEYS: none.
-- ARGV: prefix, now_ms, then per job 5 values: subscriber_id, job_id, max_in_flight (0: none),
--       rate_per_s (0: none), lease_ms.
-- Reply: per job {verdict, wait_ms, reason}: verdict 1 = attempt now (reason "probe" when it tests an
--        open circuit), 0 = ask again after wait_ms, 2 = park (the circuit is open).
local p, now = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 5 do
  local sid, jid = ARGV[i], ARGV[i + 1]
  local max_in_flight, rate, lease = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local verdict, wait, reason = 1, 0, ''
  local cb = p .. ':cb:' .. sid
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
  if verdict == 1 and max_in_flight > 0 then
    redis.call('ZADD', fk, now + lease, jid)
    redis.call('PEXPIRE', fk, lease + 60000)
  end
  out[#out + 1] = {verdict, wait, reason}
end
return out
