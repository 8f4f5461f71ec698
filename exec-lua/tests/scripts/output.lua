-- No output is lost: read while running, read after wait, both streams, big.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

-- Read after wait: wait() does not close the streams (Wippy's may lose it).
local proc = assert(shell:exec("head -c 200000 /dev/zero"))
assert(proc:start())
assert(proc:wait() == 0)
local out = proc:stdout_stream()               -- asked for only now
local data = out:read_all()
assert(#data == 200000, #data)
assert(out:read() == nil)                      -- and then the end
assert(out:read_all() == "")

-- 5 MiB while running, in chunks no bigger than asked for.
local big = assert(shell:exec("head -c 5242880 /dev/zero"))
local stream = big:stdout_stream()
assert(big:start())
local total, largest = 0, 0
while true do
    local chunk = stream:read(65536)
    if not chunk then break end
    total = total + #chunk
    if #chunk > largest then largest = #chunk end
end
assert(total == 5242880, total)
assert(largest <= 65536, largest)
assert(big:wait() == 0)

-- stdout and stderr apart, read after wait, with the exit code.
local both = assert(shell:exec("/bin/sh -c 'echo out; echo err >&2; exit 4'"))
assert(both:start())
assert(both:wait() == 4)
assert(both:stdout_stream():read_all() == "out\n")
assert(both:stderr_stream():read_all() == "err\n")

-- read() with no size and with 0: the default chunk.
local p = assert(shell:exec("echo hi"))
local s = p:stdout_stream()
assert(p:start())
assert(s:read(0) == "hi\n")
assert(s:read() == nil)
p:wait()

-- Output decoded from a legacy encoding (the entry's output_encoding: cp949).
local legacy = assert(exec.get("app:legacy"))
local korean = assert(legacy:exec("printf '\\307\\321\\261\\333'"))
local text = korean:stdout_stream()
assert(korean:start())
assert(text:read_all() == "한글")
assert(korean:wait() == 0)
