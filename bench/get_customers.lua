-- wrk script: GET /v1/customers/{id} for random ids from a known list.
--
--   wrk ... -s bench/get_customers.lua URL -- PREFIX COUNT API_KEY
--
-- The known ids are PREFIX1 .. PREFIXCOUNT (bench/run.sh creates them before
-- the run). Requests are pre-built per thread, then picked at random.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local requests = {}
local n = 0

function init(args)
   local prefix = args[1] or "seed-"
   local count = tonumber(args[2] or "1000")
   local headers = {}
   if args[3] and args[3] ~= "" then
      headers["Authorization"] = "Bearer " .. args[3]
   end
   for i = 1, count do
      requests[i] = wrk.format("GET", "/v1/customers/" .. prefix .. i, headers)
   end
   n = count
   math.randomseed(os.time() + 7919 * (thread_no or 0))
end

function request()
   return requests[math.random(1, n)]
end
