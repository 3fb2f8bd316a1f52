-- Workloads "distinct" and "forged": every request takes the next token of a file,
-- round-robin (10,000 distinct valid tokens, or 10,000 forged-kid tokens). Requests are
-- pre-built in init() so request() is a table lookup.
-- env: TOKENS=<token file>, LUA_DIR=<this directory>,
--      LIMIT=<n> (optional): stop after n requests (each token once when n = #tokens), and
--      create the file STOP_FILE so run.sh can end wrk (SIGINT) instead of waiting for -d.
dofile(os.getenv("LUA_DIR") .. "/common.lua")
local reqs, n, i = {}, 0, 0
local limit = tonumber(os.getenv("LIMIT") or "0") or 0
local stop_file = os.getenv("STOP_FILE")

function init(args)
  local tokens
  tokens, n = read_tokens(os.getenv("TOKENS"))
  for k = 1, n do
    reqs[k] = wrk.format("POST", "/mcp", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. tokens[k],
    }, body)
  end
  tokens = nil
  collectgarbage()
end

function request()
  i = i + 1
  if limit > 0 and i > limit then
    if i == limit + 1 then
      wrk.thread:stop()
      if stop_file then
        local fh = io.open(stop_file, "w")
        if fh then fh:close() end
      end
    end
    return reqs[1]
  end
  return reqs[(i - 1) % n + 1]
end
