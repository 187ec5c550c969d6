-- wrk script of the benchmark: each thread replays its share of the requests in the file named
-- by BENCH_REQUESTS (one a line: METHOD \t PATH \t name: value|name: value \t BODY), in order and
-- round, so one-time requests (webhook events, authorization codes) are each sent once when the
-- file holds enough of them. done() prints one JSON line for bench/run.py.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(s, sep)
  local out = {}
  local start = 1
  while true do
    local i = string.find(s, sep, start, true)
    if not i then
      table.insert(out, string.sub(s, start))
      return out
    end
    table.insert(out, string.sub(s, start, i - 1))
    start = i + #sep
  end
end

local reqs = {}
local position = 0
sent = 0 -- requests written, answered or not (those in flight when wrk stops are still served)

function init(args)
  local n = 0
  local total = tonumber(os.getenv("BENCH_THREADS") or "1")
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if n % total == id then
      local f = split(line, "\t")
      local headers = {}
      if f[3] ~= nil and f[3] ~= "" then
        for _, h in ipairs(split(f[3], "|")) do
          local kv = split(h, ": ")
          headers[kv[1]] = kv[2]
        end
      end
      local body = f[4]
      if body == "" then body = nil end
      table.insert(reqs, wrk.format(f[1], f[2], headers, body))
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  position = position + 1
  if position > #reqs then position = 1 end
  return reqs[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  local written = 0
  for _, t in ipairs(threads) do written = written + (t:get("sent") or 0) end
  io.write(string.format(
    '{"requests": %d, "sent": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors_status": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, written, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
