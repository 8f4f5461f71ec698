-- Misuse of coroutine.spawn, channels, select, time, done() and scanners:
-- a raise where Wippy raises (channel misuse, a bad spawn argument), an error
-- value where Wippy returns one (time, done, scanners), never a crash.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

local function raises(what, pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert(not ok, what .. ": did not raise")
    local text = tostring(err)
    assert(text:find(pattern, 1, true), what .. ": " .. text)
end

local function invalid(what, pattern, value, err)
    assert(value == nil, what .. ": expected nil, got " .. tostring(value))
    assert(type(err) == "userdata", what .. ": error is a " .. type(err) .. ": " .. tostring(err))
    assert(err:kind() == errors.INVALID, what .. ": " .. err:kind() .. " " .. err:message())
    if pattern then
        assert(err:message():find(pattern, 1, true), what .. ": " .. err:message())
    end
end

-- coroutine.spawn
raises("spawn()", "bad argument #1 to 'spawn' (function expected, got no value)", coroutine.spawn)
raises("spawn(42)", "bad argument #1 to 'spawn' (function expected, got number)", coroutine.spawn, 42)
local waiting = channel.new()
local co = coroutine.spawn(function() waiting:receive() end)
assert(type(co) == "thread")
local resumed, message = coroutine.resume(co)
assert(resumed == false and message:find("started by coroutine.spawn", 1, true), tostring(message))
if coroutine.close then
    local closed, close_message = coroutine.close(co)
    assert(closed == false and close_message:find("started by coroutine.spawn", 1, true))
end
waiting:send("go")                            -- the scheduler still runs it

-- Arguments after the function reach it.
local got = channel.new(1)
coroutine.spawn(function(a, b) got:send(a + b) end, 2, 3)
assert(got:receive() == 5)

-- channel.new
raises("new('x')", "bad argument #1 to 'new' (integer expected, got string)", channel.new, "x")
raises("new(1.5)", "integer expected, got non-integer number", channel.new, 1.5)
raises("new(-1)", "the size must be 0 or more, got -1", channel.new, -1)

-- send on a closed channel raises; receive gives nil, false; close twice is nothing
local ch = channel.new(1)
ch:close()
ch:close()
raises("send on closed", "send on closed channel", ch.send, ch, 1)
local v, ok = ch:receive()
assert(v == nil and ok == false)
raises("case_send on closed", "send on closed channel", channel.select, { ch:case_send(1) })
raises("send with a bad self", "Channel", ch.send, {}, 1)

-- A sender blocked when the channel closes raises in its own coroutine; that
-- error is raised in the main flow at its next wait.
local unbuffered = channel.new()
coroutine.spawn(function() unbuffered:send("never taken") end)
unbuffered:close()
local waited, failure = pcall(time.sleep, 0)
assert(not waited)
failure = tostring(failure)
assert(failure:find("a coroutine started by coroutine.spawn failed:", 1, true), failure)
assert(failure:find("send on closed channel", 1, true), failure)
assert(failure:find("stack traceback", 1, true), failure)

-- channel.select
raises("select()", "bad argument #1 to 'select' (table of cases expected, got nil)", channel.select)
raises("select('x')", "table of cases expected, got string", channel.select, "x")
raises("no cases", "channel.select: no cases", channel.select, {})
raises("not a case", "case 1 is not a select case", channel.select, { 42 })
raises("a channel, not a case", "case 2 is not a select case", channel.select,
    { ch:case_receive(), channel.new() })
raises("default not a boolean", "default must be a boolean, got string", channel.select,
    { ch:case_receive(), default = "yes" })
raises("unknown key", "unexpected key \"timeout\"", channel.select, { timeout = ch:case_receive() })
raises("bad second argument", "bad argument #2 to 'select' (boolean expected, got number)",
    channel.select, { ch:case_receive() }, 1)
local r = channel.select({ default = true })
assert(r.default == true and r.ok == true and r.channel == nil)
local empty = channel.new(1)
r = channel.select({ empty:case_receive() }, true)     -- Wippy's second argument
assert(r.default == true)
assert(tostring(empty:case_send(1)) == "channel case (send)")

-- A channel wait inside a coroutine the script made is an INVALID error value
-- for the resumer, as an exec call's is.
local wrapped_ok, wrapped_err = pcall(coroutine.wrap(function() return empty:receive() end))
assert(not wrapped_ok and wrapped_err:kind() == errors.INVALID, tostring(wrapped_err))
assert(wrapped_err:message():find("coroutine.spawn", 1, true))
empty:send("still works")
assert(empty:receive() == "still works")

-- time
invalid("sleep('soon')", "invalid duration \"soon\"", time.sleep("soon"))
invalid("sleep({})", "got table", time.sleep({}))
invalid("sleep('5')", "missing unit in duration", time.sleep("5"))
assert(select("#", time.sleep(-1)) == 0, "a negative sleep returns at once, with nothing")
assert(select("#", time.sleep("1ms")) == 0)
invalid("after(0)", "duration must be > 0", time.after(0))
invalid("after('-1s')", "duration must be > 0", time.after("-1s"))
invalid("after('abc')", "invalid duration", time.after("abc"))
invalid("after()", "got nil", time.after())
assert(time.SECOND == 1000000000 and time.MILLISECOND * 1000 == time.SECOND)
assert(time.HOUR == 60 * time.MINUTE and time.MICROSECOND == 1000 and time.NANOSECOND == 1)

-- done()
local proc = assert(shell:exec("true"))
invalid("done before start", "not started", proc:done())
assert(proc:close())
invalid("done after close", "process closed", proc:done())

-- scanners
proc = assert(shell:exec("echo hi"))
local out = proc:stdout_stream()
-- An unknown split is an argument error, raised as Wippy raises it.
local raised, raised_msg = pcall(out.scanner, out, "chars")
assert(not raised and tostring(raised_msg):find("invalid split type", 1, true), tostring(raised_msg))
raised, raised_msg = pcall(out.scanner, out, {})
assert(not raised and tostring(raised_msg):find("invalid split type", 1, true), tostring(raised_msg))
local early = assert(out:scanner())
local found, scan_err = early:scan()
assert(found == false and scan_err:kind() == errors.INVALID and scan_err:message():find("not started"))
assert(early:err():find("not started", 1, true), tostring(early:err()))
assert(early:text() == "")
out:close()
invalid("scanner on a closed stream", "the stream is closed", out:scanner())
assert(proc:close())

-- process_group: a boolean
invalid("process_group type", "process_group", shell:exec("true", { process_group = "yes" }))
assert(shell:exec("true", { process_group = false })):close()
assert(shell:exec("true", { process_group = true })):close()

-- mounts: Wippy's list of {source, target, read_only}; bad forms are INVALID everywhere
invalid("mounts type", "option mounts must be a list", shell:exec("true", { mounts = "/tmp:/data" }))
invalid("mount not a table", "mount 1 must be a table", shell:exec("true", { mounts = { "/tmp" } }))
invalid("mount without target", "mount 1 needs both source and target", shell:exec("true", { mounts = { { source = "/tmp" } } }))
invalid("mount source type", "mount 1: source must be a string", shell:exec("true", { mounts = { { source = 1, target = "/d" } } }))
invalid("mount read_only type", "read_only must be a boolean", shell:exec("true", { mounts = { { source = "/tmp", target = "/d", read_only = "yes" } } }))
invalid("relative mount target", "is not an absolute path", shell:exec("true", { mounts = { { source = "/tmp", target = "d" } } }))
-- A well-formed mount: taken only by a backend that mounts, where its config allows.
local mounted, mount_err = shell:exec("true", { mounts = { { source = "/tmp", target = "/d", read_only = true } } })
assert(mounted == nil and (mount_err:kind() == errors.INVALID or mount_err:kind() == errors.PERMISSION_DENIED), tostring(mount_err))
assert(mount_err:message():find("mount"), mount_err:message())
