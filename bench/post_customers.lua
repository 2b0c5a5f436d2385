-- wrk script: POST /v1/customers with a unique customer per request.
--
--   wrk ... -s bench/post_customers.lua URL -- TAG API_KEY
--
-- The customer id is TAG-<wrk thread number>-<counter>, the email the same at
-- example.com, so ids and emails never collide within one database as long
-- as TAG is unique per run against it.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local tag = "run"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   tag = args[1] or "run"
   if args[2] and args[2] ~= "" then
      headers["Authorization"] = "Bearer " .. args[2]
   end
   -- thread_no is a global set by setup() in this thread's Lua state.
   tag = tag .. "-" .. tostring(thread_no or 0)
end

function request()
   counter = counter + 1
   local id = tag .. "-" .. counter
   local body = '{"id":"' .. id .. '","email":"' .. id ..
      '@example.com","name":"Ann","surname":"Lee"}'
   return wrk.format("POST", "/v1/customers", headers, body)
end
