-- limit: admits one delivery for a subscriber under its max_in_flight and rate_limit_per_s, counted
-- across every worker. In-flight slots are leases (a worker that dies frees its slots when the lease
-- runs out); the rate is a token bucket holding at most one second of tokens.
-- KEYS: none.
-- ARGV: prefix, subscriber_id, job_id, max_in_flight (0: none), rate_per_s (0: none), now_ms,
--       lease_ms.
-- Reply: {1} admitted (the slot is released by settle), or {0, wait_ms, reason}.
local p, sid, jid = ARGV[1], ARGV[2], ARGV[3]
local max_in_flight, rate = tonumber(ARGV[4]), tonumber(ARGV[5])
local now, lease = tonumber(ARGV[6]), tonumber(ARGV[7])
local fk = p .. ':inflight:' .. sid
if max_in_flight > 0 then
  redis.call('ZREMRANGEBYSCORE', fk, '-inf', now)
  if redis.call('ZSCORE', fk, jid) == false and redis.call('ZCARD', fk) >= max_in_flight then
    return {0, 100, 'max_in_flight'}
  end
end
if rate > 0 then
  local rk = p .. ':rate:' .. sid
  local b = redis.call('HMGET', rk, 'tokens', 'at')
  local tokens, at = tonumber(b[1]) or rate, tonumber(b[2]) or now
  tokens = math.min(rate, tokens + (now - at) * rate / 1000)
  if tokens < 1 then
    redis.call('HSET', rk, 'tokens', tostring(tokens), 'at', now)
    return {0, math.ceil((1 - tokens) * 1000 / rate), 'rate_limit_per_s'}
  end
  redis.call('HSET', rk, 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', rk, 60000)
end
if max_in_flight > 0 then
  redis.call('ZADD', fk, now + lease, jid)
  redis.call('PEXPIRE', fk, lease + 60000)
end
return {1}
