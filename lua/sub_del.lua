-- sub_del: removes a subscriber and its name, and bumps the change counter.
-- KEYS: none.
-- ARGV: prefix, id.
-- Reply: 1 if removed, 0 if there was no such subscriber.
local p, id = ARGV[1], ARGV[2]
if redis.call('HDEL', p .. ':subs', id) == 0 then return 0 end
local name = redis.call('HGET', p .. ':subids', id)
if name then redis.call('HDEL', p .. ':subnames', name) end
redis.call('HDEL', p .. ':subids', id)
redis.call('INCR', p .. ':subver')
return 1
