-- Shared by every workload script (loaded with dofile). The request is the one an MCP
-- client sends: POST /mcp, a small JSON-RPC body, `Authorization: Bearer <token>`.

body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
headers = { ["Content-Type"] = "application/json" }

function read_tokens(path)
  local t, n = {}, 0
  for line in io.lines(path) do
    if #line > 0 then
      n = n + 1
      t[n] = line
    end
  end
  assert(n > 0, "no tokens in " .. path)
  return t, n
end

-- One machine-readable line for run.sh: counts, and latency percentiles in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
