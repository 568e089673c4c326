-- wrk script of bench/notify.py: POST each pre-signed body exactly once.
--
--   wrk -t T -c C -d 600s --timeout 30s -s bench/notify.lua URL -- BODIES_FILE T
--
-- BODIES_FILE holds one body per line (the v2 XML has no newline). Thread k of T takes lines
-- k+1, k+1+T, ...; each of its connections takes the next unsent body when it is free. A
-- connection with nothing left to send sends nothing and idles. When a thread has its last answer
-- it prints "bench-done <answers> <non-200>" and stops; bench/notify.py waits for T such lines,
-- then ends wrk with SIGINT (wrk itself would sleep out -d) and reads wrk's summary.

local counter = 0

function setup(thread)
   thread:set("index", counter)
   counter = counter + 1
end

function init(args)
   local threads = tonumber(args[2])
   requests = {}
   local n = 0
   for line in io.lines(args[1]) do
      if n % threads == index then
         requests[#requests + 1] = wrk.format("POST", nil, {["Content-Type"] = "text/xml"}, line)
      end
      n = n + 1
   end
   sent, answers, bad = 0, 0, 0
   -- wrk calls request() once on thread 0 right after init, to check the request parses: that
   -- call must not use up a body.
   verifying = index == 0
end

function request()
   if verifying then
      verifying = false
      return requests[1]
   end
   if sent == #requests then
      return ""  -- nothing left: write nothing, wait for the others to finish
   end
   sent = sent + 1
   return requests[sent]
end

function response(status, headers, body)
   answers = answers + 1
   if status ~= 200 then
      bad = bad + 1
      if bad <= 3 then
         io.stderr:write("HTTP " .. status .. ": " .. string.sub(body or "", 1, 200) .. "\n")
      end
   end
   if answers == #requests then
      io.write("bench-done " .. answers .. " " .. bad .. "\n")
      io.stdout:flush()
      wrk.thread:stop()
   end
end
