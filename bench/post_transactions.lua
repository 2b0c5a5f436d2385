-- wrk script: POST /v1/transactions on an affiliate program, a unique transaction per
-- request (a 99.99 sale, so a 30% rule rewards 29.997), for a customer drawn at random
-- from a known list, so that requests spread over the customers (and their partner) the
-- way real traffic does: concurrent sales of one customer serialise, of others do not.
--
--   wrk ... -s bench/post_transactions.lua URL -- TAG API_KEY CUSTOMER_PREFIX COUNT
--
-- The transaction key derives from TAG-<wrk thread number>-<counter>; the customers are
-- CUSTOMER_PREFIX1 .. CUSTOMER_PREFIXCOUNT (bench/run.sh creates them before the run).

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local tag = "run"
local prefix = "cust-"
local count = 1000
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   tag = args[1] or "run"
   if args[2] and args[2] ~= "" then
      headers["Authorization"] = "Bearer " .. args[2]
   end
   prefix = args[3] or prefix
   count = tonumber(args[4] or "1000")
   tag = tag .. "-" .. tostring(thread_no or 0)
   math.randomseed(os.time() + 7919 * (thread_no or 0))
end

function request()
   counter = counter + 1
   local key = tag .. "-" .. counter
   local customer = prefix .. math.random(1, count)
   local body = '{"key":"' .. key .. '","amount":99.99,"action":"sale","customer":{"key":"' ..
      customer .. '"}}'
   return wrk.format("POST", "/v1/transactions", headers, body)
end
