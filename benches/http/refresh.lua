-- wrk script: refresh-token grants, each with a token the provider issued and never used.
-- Configure with environment variables: CLIENT_ID, CLIENT_SECRET, REFRESH_TOKENS (a file with
-- one refresh token per line, at least four per connection). Each wrk thread takes every
-- n-th line; each answer's new refresh token goes back to the thread's queue, so no token is
-- presented twice (presenting one twice is reuse: the provider revokes its family).
local id = os.getenv("CLIENT_ID")
local secret = os.getenv("CLIENT_SECRET")
local file = os.getenv("REFRESH_TOKENS")
if not id or not secret or not file then
  error("set CLIENT_ID, CLIENT_SECRET and REFRESH_TOKENS")
end

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

-- Threads are numbered in setup(); with NTHREADS threads, thread i takes lines i, i + n, ...
local nthreads = tonumber(os.getenv("NTHREADS") or "1")
local counter = 0
function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

local queue, first, last = {}, 1, 0
local authorization = "Basic " .. b64(id .. ":" .. secret)

function init(args)
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == index then
      last = last + 1
      queue[last] = line
    end
    line_no = line_no + 1
  end
end

function request()
  local token = "exhausted"
  if first <= last then
    token = queue[first]
    queue[first] = nil
    first = first + 1
  end
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = authorization,
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then
    last = last + 1
    queue[last] = token
  end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50=%d p90=%d p99=%d requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
