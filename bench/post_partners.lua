-- wrk script: POST /v1/partners with a unique partner per request (affiliate program).
--
--   wrk ... -s bench/post_partners.lua URL -- TAG API_KEY
--
-- The partner id, referral key and email derive from TAG-<wrk thread number>-<counter>,
-- so they never collide within one database as long as TAG is unique per run against it.
-- No password: hashing one (Argon2id) is deliberately slow and would measure the hash.

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
   tag = tag .. "-" .. tostring(thread_no or 0)
end

function request()
   counter = counter + 1
   local id = tag .. "-" .. counter
   local body = '{"id":"p' .. id .. '","key":"k' .. id .. '","email":"' .. id ..
      '@example.com","name":"Ann","surname":"Lee","tags":["bench"]}'
   return wrk.format("POST", "/v1/partners", headers, body)
end
