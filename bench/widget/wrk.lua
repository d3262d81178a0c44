-- wrk script of the widget benchmark (`bench/widget_bench.py`).
-- BENCH_TARGET=bare: GET /bench/bare/. BENCH_TARGET=auth: GET /bench/widget-auth/ with a customer's token.
-- BENCH_TARGET=widget: POST /api/v1/widget/tickets/ with one of the
-- customers' tokens (BENCH_TOKENS_FILE, one a line; taken in turn)
-- and a fresh Idempotency-Key per request, like the widget's submit. `done` prints one JSON line of results.

local target = os.getenv("BENCH_TARGET") or "bare"
local body = '{"type": "question", "priority": "medium", '
  .. '"description": "How do I export the tour itinerary as PDF?\\nThe button is greyed out.", '
  .. '"browser_info": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131", '
  .. '"url": "https://app.tourbrain.ai/tours/42/itinerary"}'

local tokens = {}
-- Counted in the main Lua state; each thread's own state gets its number as the global `thread_number`.
local threads_set_up = 0

function setup(thread)
  threads_set_up = threads_set_up + 1
  thread:set("thread_number", threads_set_up)
end

function init(args)
  if target ~= "bare" then
    for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
      if #line > 0 then
        table.insert(tokens, line)
      end
    end
  end
  counter = 0
  -- Keys unique across threads and runs: the thread's number, the clock at start, a counter.
  prefix = string.format("wrk-%d-%d-", thread_number, os.time())
end

function request()
  if target == "bare" then
    return wrk.format("GET", "/bench/bare/")
  end
  counter = counter + 1
  local token = tokens[(thread_number * 7919 + counter) % #tokens + 1]
  if target == "auth" then
    return wrk.format("GET", "/bench/widget-auth/", {["Authorization"] = "Bearer " .. token})
  end
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. counter,
  }
  return wrk.format("POST", "/api/v1/widget/tickets/", headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests,
    summary.duration,
    errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50),
    latency:percentile(95),
    latency:percentile(99)
  ))
end
