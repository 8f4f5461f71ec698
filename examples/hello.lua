-- Run a few commands through Wippy's `exec` module. Needs no config and no daemon:
--
--   cargo run -p exec-lua -- examples/hello.lua [NAME]
--
-- Without --config, exec-lua has two executors: app:shell (host commands, a clean
-- environment with PATH and LANG) and app:restricted (only `echo hello`,
-- `uname -s` and `date -u`).
local exec = require("exec")

local shell, err = exec.get("app:shell")
if err then error(err) end

-- 1. A command, its output read as it arrives, its exit code.
local name = arg[1] or "world"
local proc = assert(shell:exec("echo 'Hello, " .. name .. "!'"))
local stdout = proc:stdout_stream()       -- streams can be had before start()
assert(proc:start())
while true do
    local chunk = stdout:read()           -- nil at the end of the output
    if not chunk then break end
    io.write("echo said: ", chunk)
end
print("echo exited with", proc:wait())

-- 2. A command that takes a while: lines arrive as they are printed, and a
--    non-zero exit code is a value, not an error. No shell runs unless asked for.
local counter = assert(shell:exec("/bin/sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.2; done; exit 3'"))
local ticks = counter:stdout_stream()
assert(counter:start())
while true do
    local chunk = ticks:read()
    if not chunk then break end
    io.write("  ", chunk)
end
print("the counter exited with", counter:wait())

-- 3. stdin: feed `sort`, close its stdin so it sees the end, read the result.
local sort = assert(shell:exec("sort"))
local sorted = sort:stdout_stream()
assert(sort:start())
assert(sort:write_stdin("cherry\napple\nbanana\n"))
assert(sort:close_stdin())
io.write("sorted: ", (sorted:read_all():gsub("\n", " ")), "\n")
sort:wait()

-- 4. Failures are error values with a kind, returned as the second value.
local missing = assert(shell:exec("no-such-program --version"))
local ok, start_err = missing:start()
print("no-such-program:", start_err:kind(), "-", start_err:message())

-- 5. A whitelist: what is not listed does not run.
local restricted = assert(exec.get("app:restricted"))
local allowed = assert(restricted:exec("echo    'hello'"))   -- same words as `echo hello`
local said = allowed:stdout_stream()
assert(allowed:start())
io.write("app:restricted said: ", said:read_all())
allowed:wait()
local denied, denial = restricted:exec("rm -rf /tmp/important")
assert(denied == nil and denial:kind() == errors.PERMISSION_DENIED)
print("app:restricted refused:", denial:message())

shell:release()
restricted:release()
