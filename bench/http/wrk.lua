-- wrk script for make bench's client check (bench/bench.py): `wrk -s wrk.lua URL -- depth=N` (N defaults to 1).
-- depth=N > 1: N GET requests for the URL's path are sent in one write per connection, all
-- answered before the next write (wrk counts the requests in the buffer): pipelining, in the
-- style of wrk's pipeline.lua.  depth=1 defines no request() function, so wrk keeps its
-- static mode (its own request, built once) and costs the client no Lua call per request.
-- done() prints one machine-readable line that bench.py parses.
init = function(args)
   local depth = 1
   for i = 0, #args do                       -- wrk 4.1 passes the URL as args[0]
      local d = args[i] and string.match(args[i], "^depth=(%d+)$")
      if d then depth = tonumber(d) end
   end
   if depth > 1 then
      local r = {}
      for i = 1, depth do
         r[i] = wrk.format()                 -- wrk.init has set the Host header already
      end
      local req = table.concat(r)
      request = function() return req end
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRKRESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(99)))
end
