-- proc:done(), from Wippy's runtime spec of 2026 (as recorded in the
-- project's notes; the stored copy of the spec predates it): the example's
-- lines run unchanged. `print` is captured: it hands each line to the main
-- flow, which waits for it (the exit reaches the spawned coroutine and the
-- main flow's wait() in no set order).
local printed = channel.new(10)
local function print(...)
    local values = table.pack(...)
    for i = 1, values.n do values[i] = tostring(values[i]) end
    printed:send(table.concat(values, "\t", 1, values.n))
end

local exec = require("exec")
local executor = assert(exec.get("app:exec"))
local proc = assert(executor:exec("sh -c 'exit 7'"))

proc:start()
local exit = assert(proc:done())
coroutine.spawn(function()
    local status = channel.select{ exit:case_receive() }.value
    print("child exited with", status.code, status.signal)
end)

assert(proc:wait() == 7)
local line = printed:receive()
assert(line == "child exited with\t7\tnil", line)

-- The same with a child that a signal ends: code 128+n, signal n.
local killed = assert(executor:exec("sleep 30"))
killed:start()
local gone = assert(killed:done())
coroutine.spawn(function()
    local status = channel.select{ gone:case_receive() }.value
    print("child exited with", status.code, status.signal)
end)
assert(killed:signal(9))
assert(killed:wait() == 137)
line = printed:receive()
assert(line == "child exited with\t137\t9", line)

-- The exit comes once and the channel closes behind it, as Wippy's does: a
-- select finds it closed at once (not its default), and so does a receive.
local r = channel.select{ exit:case_receive(), default = true }
assert(r.default == nil, "done() neither delivered again nor closed")
assert(r.channel == exit and r.ok == false and r.value == nil)
local again, open = exit:receive()
assert(again == nil and open == false)
local again_killed, open_killed = gone:receive()
assert(again_killed == nil and open_killed == false)
-- A script that drains the channel ends.
local drained = 0
for value in function() return (exit:receive()) end do drained = drained + 1 end
assert(drained == 0)
-- The process stays usable: wait() still answers.
assert(proc:wait() == 7)
-- A timed-out process: the error value arrives instead of a code, then the
-- channel is closed too.
local slow = assert(executor:exec("sleep 30", { timeout = 0.1 }))
slow:start()
local slow_exit = slow:done()
local status = slow_exit:receive()
assert(status.code == nil and status.error:kind() == errors.TIMEOUT, tostring(status.error))
assert(select(2, slow_exit:receive()) == false)
-- A channel made after the exit was recorded: the value, then closed.
local late = assert(proc:done())
assert(rawequal(late, exit))
local fresh = assert(executor:exec("true"))
fresh:start()
assert(fresh:wait() == 0)
local fresh_exit = assert(fresh:done())
assert(fresh_exit:receive().code == 0)
assert(select(2, fresh_exit:receive()) == false)
