/**
 * `listAppendOnce` as one Lua script (atomic): append each item unless the list already holds
 * it, counting repeats (an item the list holds twice covers two equal items), then trim and
 * refresh the TTL. With `replace`, or when the key holds something that is not a list, the key
 * is deleted first (as the memory store replaces it).
 *
 * KEYS[1] the list; ARGV[1] items kept (0: all); ARGV[2] TTL in ms; ARGV[3] "1" to replace;
 * ARGV[4..] the items, serialised. Returns the number of items appended.
 */
export const LIST_APPEND_ONCE_LUA = `
local key = KEYS[1]
local keep = tonumber(ARGV[1])
local kind = redis.call('TYPE', key)['ok']
local held = {}
if ARGV[3] == '1' or (kind ~= 'list' and kind ~= 'none') then
  redis.call('DEL', key)
elseif kind == 'list' then
  for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do held[v] = (held[v] or 0) + 1 end
end
local added = 0
for i = 4, #ARGV do
  local v = ARGV[i]
  local n = held[v]
  if n and n > 0 then
    held[v] = n - 1
  else
    redis.call('RPUSH', key, v)
    added = added + 1
  end
end
if keep > 0 then redis.call('LTRIM', key, -keep, -1) end
redis.call('PEXPIRE', key, ARGV[2])
return added
`;
