-- sub_put: stores a subscriber, keeping names unique, and bumps the change counter that every hub
-- and worker watches.
-- KEYS: none.
-- ARGV: prefix, id, name, json, mode ("create": fail if the name is taken; "update": the id must
--       exist; the old name is released if it changed).
-- Reply: "OK", "NAME_TAKEN" or "NOT_FOUND".
local p, id, name, json, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local owner = redis.call('HGET', p .. ':subnames', name)
if owner and owner ~= id then return 'NAME_TAKEN' end
if mode == 'update' then
  local old = redis.call('HGET', p .. ':subs', id)
  if not old then return 'NOT_FOUND' end
  local oldname = redis.call('HGET', p .. ':subids', id)
  if oldname and oldname ~= name then redis.call('HDEL', p .. ':subnames', oldname) end
end
redis.call('HSET', p .. ':subs', id, json)
redis.call('HSET', p .. ':subnames', name, id)
redis.call('HSET', p .. ':subids', id, name)
redis.call('INCR', p .. ':subver')
return 'OK'
