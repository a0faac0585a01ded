-- report.lua: the one wrk script every benchmark row uses, so the client does
-- the same work for every row. It
--   * sends GET <url path>, optionally with a cookie taken in turn from a file
--     (one value per line), a different one per request, each thread starting
--     at its own offset;
--   * counts responses and non-2xx statuses per thread (response());
--   * optionally stops each thread after a number of responses (a bounded
--     count for session creation; -d still bounds the time);
--   * prints one machine-readable line from done():
--       BENCH_RESULT {"requests":..,"non2xx":..,"p50_us":..,"p99_us":..,...}
--   * or, given a body, sends POST <url path> with that JSON body instead;
-- Usage: wrk -s report.lua <url> -- [cookie_file|-] [cookie_name] [max_per_thread] [post_body]

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local reqs = {}
local nreqs = 0
local at = 0
local limit = 0
responses = 0
non2xx = 0

function init(args)
   local file, name = args[1], args[2]
   limit = tonumber(args[3] or "0") or 0
   if file and file ~= "" and file ~= "-" then
      for line in io.lines(file) do
         if line ~= "" then
            reqs[#reqs + 1] = wrk.format(nil, nil, {Cookie = name .. "=" .. line})
         end
      end
   end
   if #reqs == 0 and args[4] and args[4] ~= "" then
      reqs[1] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, args[4])
   elseif #reqs == 0 then
      reqs[1] = wrk.format()
   end
   nreqs = #reqs
   at = ((id or 1) * 7919) % nreqs
end

function request()
   at = at + 1
   if at > nreqs then at = 1 end
   return reqs[at]
end

function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   end
   if limit > 0 and responses >= limit then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local bad, seen = 0, 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
      seen = seen + (t:get("responses") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"responses":%d,"duration_us":%d,"bytes":%d,' ..
      '"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,"non2xx":%d,' ..
      '"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, seen, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.timeout, e.status, bad,
      latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
