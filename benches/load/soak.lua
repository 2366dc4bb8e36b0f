-- wrk script for benches/load/soak.sh: one signed Visma delivery, sent over and over on
-- keep-alive connections. Each thread stops after its share of the requests and leaves a
-- file in the marker directory (wrk itself waits out -d, so soak.sh sends it SIGINT once
-- every thread is done); done() prints the status counts of all threads as
-- "soak-status <code> <count>" lines.
--
-- Arguments (after `--`): requests per thread, signature, body file, marker directory.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  limit = tonumber(args[1])
  markers = args[4]
  local file = assert(io.open(args[3], "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["x-vwd-signature-v1"] = args[2]
  seen = 0
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  seen = seen + 1
  if seen == limit then
    local marker = assert(io.open(markers .. "/thread-" .. id, "w"))
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("soak-status %d %d\n", status, count))
  end
  local errors = summary.errors
  io.write(string.format("soak-errors connect=%d read=%d write=%d timeout=%d status=%d\n",
    errors.connect, errors.read, errors.write, errors.timeout, errors.status))
  io.write(string.format("soak-latency p50=%.2fms p99=%.2fms max=%.2fms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
