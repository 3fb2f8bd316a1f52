-- Workload "dpop" (issue 17): every request `Authorization: DPoP <token>` (one token bound
-- to the client key) and the next `DPoP` proof of a file, each proof once (each its own
-- `jti`; a second use would be refused as a replay). Requests are pre-built in init().
-- env: TOKENS=<proof file>, DPOP_TOKEN=<file whose first line is the bound token>,
--      LUA_DIR=<this directory>, LIMIT, STOP_FILE: as in tokens.lua (run.sh sets LIMIT
--      below the number of proofs, so the requests in flight when wrk stops use fresh ones).
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local reqs, n, i = {}, 0, 0
local limit = tonumber(os.getenv("LIMIT") or "0") or 0
local stop_file = os.getenv("STOP_FILE")

function init(args)
  local token = read_tokens(os.getenv("DPOP_TOKEN"))[1]
  local proofs
  proofs, n = read_tokens(os.getenv("TOKENS"))
  for k = 1, n do
    reqs[k] = wrk.format("POST", "/mcp", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "DPoP " .. token,
      ["DPoP"] = proofs[k],
    }, body)
  end
  proofs = nil
  collectgarbage()
end

function request()
  i = i + 1
  if limit > 0 and i == limit + 1 then
    wrk.thread:stop()
    if stop_file then
      local fh = io.open(stop_file, "w")
      if fh then fh:close() end
    end
  end
  return reqs[(i - 1) % n + 1]
end
