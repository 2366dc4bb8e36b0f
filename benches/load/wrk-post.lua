-- wrk script: POST one signed JSON body on every request and print a machine-readable
-- summary. Environment: WRK_BODY_FILE (the body), and the signature as either WRK_SIGNATURE
-- (the x-vwd-signature-v1 value) or WRK_HEADERS ("Name: value" lines, as `hookwall sign`
-- prints them, for the other schemes).
local path = assert(os.getenv("WRK_BODY_FILE"), "set WRK_BODY_FILE")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local signature = os.getenv("WRK_SIGNATURE")
local headers = os.getenv("WRK_HEADERS")
assert(signature or headers, "set WRK_SIGNATURE or WRK_HEADERS")
if signature and signature ~= "" then
    wrk.headers["x-vwd-signature-v1"] = signature
end
for line in (headers or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    assert(name, "WRK_HEADERS: not a 'Name: value' line: " .. line)
    wrk.headers[name] = value
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK_RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
        "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f\n",
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max, latency.mean))
end
