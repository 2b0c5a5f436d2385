-- wrk script: POST /v1/customers on an affiliate program, a unique customer per request,
-- each attributed to one partner by its key (the seed 001 form).
--
--   wrk ... -s bench/post_affiliate_customers.lua URL -- TAG API_KEY PARTNER_KEY
--
-- The customer key and email derive from TAG-<wrk thread number>-<counter>.

local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
end

local tag = "run"
local partner = "partner"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   tag = args[1] or "run"
   if args[2] and args[2] ~= "" then
      headers["Authorization"] = "Bearer " .. args[2]
   end
   partner = args[3] or partner
   tag = tag .. "-" .. tostring(thread_no or 0)
end

function request()
   counter = counter + 1
   local id = tag .. "-" .. counter
   local body = '{"partner":{"key":"' .. partner .. '"},"key":"' .. id .. '","email":"' ..
      id .. '@example.com","name":"Ann","surname":"Lee"}'
   return wrk.format("POST", "/v1/customers", headers, body)
end
