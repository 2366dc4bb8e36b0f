-- wrk script: POST one signed JSON body on every request and print a machine-readable
-- summary. Environment: WRK_BODY_FILE (the body), WRK_SIGNATURE (x-vwd-signature-v1 value).
local path = assert(os.getenv("WRK_BODY_FILE"), "set WRK_BODY_FILE")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-vwd-signature-v1"] = assert(os.getenv("WRK_SIGNATURE"), "set WRK_SIGNATURE")

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
        "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f\n",
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max, latency.mean))
end
