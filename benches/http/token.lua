-- wrk script: POST a client_credentials token request with HTTP Basic client authentication.
-- Configure with environment variables: CLIENT_ID, CLIENT_SECRET, SCOPE (optional).
local id = os.getenv("CLIENT_ID")
local secret = os.getenv("CLIENT_SECRET")
local scope = os.getenv("SCOPE")
if not id or not secret then
  error("set CLIENT_ID and CLIENT_SECRET")
end

-- base64 (standard alphabet, padded) for the Basic header; RFC 6749 section 2.3.1 form-encodes
-- the id and secret first, which is the identity for the unreserved characters used here.
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials" .. (scope and scope ~= "" and ("&scope=" .. scope) or "")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. b64(id .. ":" .. secret)

-- No response() callback: it would make wrk run Lua for every response and take CPU from
-- the servers on this 2-core machine. Non-2xx responses are counted in summary.errors.status.

function done(summary, latency, requests)
  -- One machine-readable line for run.sh (latencies in microseconds).
  io.write(string.format("RESULT rps=%.1f p50=%d p90=%d p99=%d requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
