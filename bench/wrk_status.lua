-- Counts every response whose status is not 2xx (wrk itself only reports
-- "Non-2xx or 3xx responses"), and prints machine-readable totals at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  responses = 0
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad, total = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    total = total + thread:get("responses")
  end
  local e = summary.errors
  io.write(string.format("BENCH responses=%d non2xx=%d socket_errors=%d duration_us=%d "
    .. "p50_us=%d p99_us=%d\n", total, bad, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
