package redisstore

import "github.com/redis/go-redis/v9"

// The server-side scripts. Redis runs a script atomically: no other
// command runs between its commands. Each is sent with EVALSHA, and with
// EVAL when the server does not have it yet (a restarted server).
//
// A script reports a failure the caller caused (not a Redis failure) as
// an error reply starting with errPrefix, so the store can tell it from
// Redis being unavailable.
const errPrefix = "SCRIPTRUNNER "

// incrScript adds ARGV[1] to the int at KEYS[1]; a key it creates gets
// the expiry ARGV[2] (milliseconds, "0": none), an existing key keeps
// its own. A value that is not an int fails with "SCRIPTRUNNER notint
// <first byte>", an overflow with "SCRIPTRUNNER overflow <value>".
var incrScript = redis.NewScript(`
local created = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if type(n) == 'table' and n.err then
  local cur = redis.call('GET', KEYS[1])
  if string.match(cur, '^-?%d+$') then
    return redis.error_reply('SCRIPTRUNNER overflow ' .. cur)
  end
  return redis.error_reply('SCRIPTRUNNER notint ' .. string.sub(cur, 1, 1))
end
if created and ARGV[2] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return n
`)

// casScript replaces the value at KEYS[1] if it is, byte for byte, ARGV[2]
// (ARGV[1] "1"), or if it is absent (ARGV[1] "0"). The new value is
// ARGV[4] (ARGV[3] "1") with the expiry ARGV[5] (milliseconds, "0":
// none), or nothing (ARGV[3] "0": delete). It returns 1 if it replaced.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1
`)

// allowScript takes a token from the token bucket at KEYS[1], which gains
// ARGV[1] tokens every ARGV[2] microseconds and holds at most ARGV[3], and
// returns 1 if there was one. It is bindings' tokenBucket.take on the
// server's clock (TIME), so every runner sharing the server agrees. The
// bucket is stored as "<tokens> <last update, unix µs>" and expires when
// it would be full again (at most ARGV[4] milliseconds later): a bucket
// seen for the first time is full.
var allowScript = redis.NewScript(`
local rate, per, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tokens, last = burst, now
local s = redis.call('GET', KEYS[1])
if s then
  local a, b = string.match(s, '^(%S+) (%S+)$')
  a, b = tonumber(a), tonumber(b)
  if a and b then tokens, last = a, b end
end
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate / per)
  last = now
end
if tokens > burst then tokens = burst end
local ok = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  ok = 1
end
local ttl = math.ceil(((burst - tokens) * per / rate + last - now) / 1000)
ttl = math.max(1, math.min(ttl, tonumber(ARGV[4])))
redis.call('SET', KEYS[1], string.format('%.17g %.17g', tokens, last), 'PX', string.format('%d', ttl))
return ok
`)
