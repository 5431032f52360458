-- One wrk scenario, configured by the environment (bench/run.py sets it):
--   BENCH_METHOD   GET, POST, ...
--   BENCH_PATHS    paths separated by "|", used in turn (e.g. several item ids)
--   BENCH_HEADERS  "Name: value" pairs separated by "|"
--   BENCH_BODY     the request body (optional)
--   BENCH_FILE     instead of the above: one request per line, "path<TAB>signature<TAB>body",
--                  each sent once in turn (signed webhook events, each with its own id)
-- done() prints one JSON line with the counts and the latency percentiles (microseconds).

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local paths = {}
local headers = {}

for path in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
    table.insert(paths, path)
end
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
    local name, value = string.match(pair, "^%s*([^:]+):%s*(.*)$")
    if name then
        headers[name] = value
    end
end
if body and body ~= "" then
    headers["Content-Type"] = "application/json"
else
    body = nil
end

local requests = {}
local file = os.getenv("BENCH_FILE")
if file and file ~= "" then
    headers["Content-Type"] = "application/json"
    for line in io.lines(file) do
        local path, signature, event = string.match(line, "^([^\t]+)\t([^\t]+)\t(.*)$")
        headers["Webhook-Signature"] = signature
        table.insert(requests, wrk.format(method, path, headers, event))
    end
else
    for i, path in ipairs(paths) do
        requests[i] = wrk.format(method, path, headers, body)
    end
end
local next_request = 0

request = function()
    next_request = next_request % #requests + 1
    return requests[next_request]
end

done = function(summary, latency, _)
    local e = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, '
            .. '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, '
            .. '"p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9), latency.max, latency.mean
    ))
end
