-- wrk script for benchmarks/api_throughput.py: bearer-token reads and confirms against `tracker serve`.
--
--   WRK_TOKEN=... WRK_MODE=reads WRK_IDS=ids.txt wrk -t1 -c32 -d15s -s benchmarks/api_wrk.lua http://127.0.0.1:8000
--
-- WRK_MODE: list (GET /propositions?status=open&kind=prediction&limit=50), detail (GET /propositions/{id}, ids from
-- WRK_IDS, one a line), queue (GET /matches?state=suggested&limit=50), reads (the three in turn), confirm
-- (POST /matches/{id}/confirm with If-Match and an Idempotency-Key; WRK_MATCHES holds "match_id version" lines,
-- one suggested match per proposition, so no two confirms touch one proposition and each If-Match is current;
-- stance context adds exactly one event). Each wrk thread takes every n-th line. The last line printed is JSON.
-- WRK_READ_DELAY_MS: each connection of the read modes waits this long before each request (not counted in the
-- latency), to hold reads near a rate instead of as fast as the server answers (e.g. the mix with reads at 800/s).

local token = os.getenv("WRK_TOKEN")
local mode = os.getenv("WRK_MODE") or "reads"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function lines(path, every, offset)
  local out = {}
  local n = 0
  for line in io.lines(path) do
    if n % every == offset then table.insert(out, line) end
    n = n + 1
  end
  return out
end

local ids, matches, step, headers, post_headers
local list_path = "/propositions?status=open&kind=prediction&limit=50"
local queue_path = "/matches?state=suggested&limit=50"
local body = '{"stance":"context","note":"wrk benchmark"}'

function init(args)
  local every = tonumber(os.getenv("WRK_THREADS") or "1")
  headers = {["Authorization"] = "Bearer " .. token}
  step = 0
  if mode == "detail" or mode == "reads" then
    ids = lines(os.getenv("WRK_IDS"), 1, 0)
  end
  if mode == "confirm" then
    matches = lines(os.getenv("WRK_MATCHES"), every, index)
  end
end

local read_delay = tonumber(os.getenv("WRK_READ_DELAY_MS") or "0")
if read_delay > 0 and mode ~= "confirm" then
  function delay()
    return read_delay
  end
end

function request()
  step = step + 1
  local kind = mode
  if mode == "reads" then
    local turn = step % 3
    kind = (turn == 0 and "list") or (turn == 1 and "detail") or "queue"
  end
  if kind == "list" then
    return wrk.format("GET", list_path, headers)
  elseif kind == "detail" then
    return wrk.format("GET", "/propositions/" .. ids[math.random(#ids)], headers)
  elseif kind == "queue" then
    return wrk.format("GET", queue_path, headers)
  end
  local line = matches[step]
  if line == nil then line = matches[#matches] end  -- ran out: repeats are refused (counted as errors)
  local match_id, version = line:match("^(%S+) (%S+)$")
  local h = {["Authorization"] = headers["Authorization"], ["Content-Type"] = "application/json",
             ["If-Match"] = '"' .. version .. '"', ["Idempotency-Key"] = "wrk-" .. index .. "-" .. step .. "-" .. match_id}
  return wrk.format("POST", "/matches/" .. match_id .. "/confirm", h, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "per_s": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, "p95_ms": %.2f, ' ..
    '"p99_ms": %.2f, "max_ms": %.2f, "mean_ms": %.2f, "non_2xx_3xx": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000, e.status,
    e.connect + e.read + e.write, e.timeout))
end
