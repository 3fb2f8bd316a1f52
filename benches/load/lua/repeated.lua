-- Workload "repeated": one valid token on every request. The request is static, so wrk
-- builds it once (the cheapest load generator path).
-- env: TOKENS=<file whose first line is the token>, LUA_DIR=<this directory>
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local tokens = read_tokens(os.getenv("TOKENS"))
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. tokens[1]
