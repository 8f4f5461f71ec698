-- en/lua/dynamic/exec.md, "signal / close", as three processes (the doc's
-- three ways to stop one).
local exec = require("exec")
-- HOST_PID (set by the test harness): whether the backend has host pids.
-- Where it has none, pid() is nil with an UNAVAILABLE error.
local function has_pid(proc)
    local pid, err = proc:pid()
    if HOST_PID then
        return pid ~= nil and pid > 0
    end
    return pid == nil and err:kind() == errors.UNAVAILABLE
end
local executor = assert(exec.get("app:exec"))

-- Send SIGTERM and release the handle
local proc = executor:exec("./long-running-server.sh")
proc:start()
assert(has_pid(proc))
assert(proc:close() == true)
assert(proc:close() == true)                    -- closing twice is not an error
local no_pid, pid_err = proc:pid()               -- after close: "process closed"
assert(no_pid == nil and pid_err:kind() == errors.INVALID, tostring(pid_err))
local code, err = proc:wait()                   -- after close: "process closed"
assert(code == nil and err:kind() == errors.INVALID and err:message():find("process closed"), tostring(err))

-- Send SIGKILL and release the handle
local proc = executor:exec("./long-running-server.sh")
proc:start()
assert(proc:close(true) == true)

-- Or send a specific signal and keep the handle
local proc = executor:exec("./long-running-server.sh")
proc:start()
local SIGINT = 2
assert(proc:signal(SIGINT) == true)
assert(proc:wait() == 128 + SIGINT)             -- Wippy reports -1; we report 128+n
assert(proc:wait() == 128 + SIGINT)             -- again: the same code

local proc = executor:exec("sleep 30")
proc:start()
assert(proc:signal(9))
assert(proc:wait() == 137)
assert(proc:signal(15) == true)                 -- after exit: nothing to do, no error

-- An unstarted handle is simply invalidated.
local never = executor:exec("sleep 30")
assert(never:close() == true)
local ok, err = never:start()
assert(ok == nil and err:kind() == errors.INVALID, tostring(err))
