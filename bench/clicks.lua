-- wrk script: referral clicks from distinct visitors (bench/run.sh, tracking configs).
--
--   wrk ... -s bench/clicks.lua URL -- METHOD PATH [NET]
--
-- Every request is a new visitor (its own X-Forwarded-For address, which referd trusts
-- from a local peer) with a desktop browser's User-Agent, so no click is filtered as a bot
-- or dropped as a repeat: every request is a click referd must store. nginx gets the same
-- requests (and ignores the headers), so both sides pay the same client cost. NET (0-255)
-- keeps the visitors of one run apart from another's on the same server: referd counts a
-- visitor's repeat on a link within the hour once.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local method, path, net
local counter = 0
local ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

function init(args)
   method = args[1] or "GET"
   path = args[2] or "/"
   net = tonumber(args[3] or "0") % 256
end

function request()
   counter = counter + 1
   -- A unique private IPv6 address per request and thread.
   local ip = string.format("fd%02x::%x:%x:%x", net, thread_no or 0, math.floor(counter / 65536), counter % 65536)
   return wrk.format(method, path, { ["User-Agent"] = ua, ["X-Forwarded-For"] = ip })
end
