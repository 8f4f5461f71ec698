-- An exec call that has to wait inside a coroutine the script made itself
-- (coroutine.create/resume, coroutine.wrap) is abandoned: the resumer gets an
-- INVALID error value, not mlua's internal "pending" value, and the process
-- and its streams stay usable from the main flow. Plain coroutines behave as
-- in Lua.
local exec = require("exec")
local shell = assert(exec.get("app:shell"))

local function refused(what, err)
    assert(type(err) == "userdata", what .. ": got a " .. type(err) .. ": " .. tostring(err))
    assert(err:kind() == errors.INVALID, what .. ": " .. err:kind() .. " " .. err:message())
    assert(err:retryable() == false, what)
    local message = err:message()
    assert(message:find("exec calls cannot wait inside coroutines made with coroutine.create or coroutine.wrap", 1, true),
        what .. ": " .. message)
    assert(message:find("main flow", 1, true), what .. ": " .. message)
end

-- coroutine.create + resume: wait() has to wait.
local proc = assert(shell:exec("sleep 0.3"))
assert(proc:start())
local co = coroutine.create(function() return proc:wait() end)
local ok, err = coroutine.resume(co)
assert(ok == false, "resume returned " .. tostring(ok) .. ", " .. tostring(err))
refused("resume(wait)", err)
assert(coroutine.status(co) == "dead", coroutine.status(co))
local again_ok, again = coroutine.resume(co)
assert(again_ok == false and again == "cannot resume dead coroutine", tostring(again))
-- The process is untouched: the main flow waits for it.
assert(proc:wait() == 0)

-- coroutine.wrap: a read before any output raises the error value.
proc = assert(shell:exec("/bin/sh -c 'sleep 0.3; echo late'"))
local out = proc:stdout_stream()
assert(proc:start())
local read = coroutine.wrap(function() return out:read() end)
local read_ok, read_err = pcall(read)
assert(read_ok == false, "wrap returned " .. tostring(read_err))
refused("wrap(read)", read_err)
-- The abandoned read let go of the stream: nothing is lost.
assert(out:read_all() == "late\n")
assert(proc:wait() == 0)

-- Nested: the refusal reaches the inner coroutine's resumer; the outer one
-- goes on.
proc = assert(shell:exec("sleep 0.3"))
assert(proc:start())
local outer = coroutine.wrap(function()
    local inner = coroutine.create(function() return proc:wait() end)
    local inner_ok, inner_err = coroutine.resume(inner)
    coroutine.yield(inner_ok, inner_err)
    return "outer done"
end)
local inner_ok, inner_err = outer()
assert(inner_ok == false)
refused("nested", inner_err)
assert(outer() == "outer done")
assert(proc:wait() == 0)

-- A call that does not wait works in a coroutine.
local made = coroutine.wrap(function() return shell:exec("true") end)()
assert(tostring(made) == 'exec.Process("true")', tostring(made))
assert(made:close())

-- Plain coroutines: values in and out, generators, errors as in Lua.
local echo = coroutine.create(function(a, b)
    local c = coroutine.yield(a + b, nil)
    return c, "end"
end)
local r = table.pack(coroutine.resume(echo, 1, 2))
assert(r.n == 3 and r[1] == true and r[2] == 3 and r[3] == nil)
r = table.pack(coroutine.resume(echo, "c"))
assert(r.n == 3 and r[2] == "c" and r[3] == "end")
assert(coroutine.status(echo) == "dead")

local sum = 0
for i in coroutine.wrap(function() for i = 1, 4 do coroutine.yield(i) end end) do
    sum = sum + i
end
assert(sum == 10)

local failing = coroutine.create(function() error("boom") end)
local failed, message = coroutine.resume(failing)
assert(failed == false and message:find(":%d+: boom$"), message)

local raised, wrapped = pcall(coroutine.wrap(function() error({ code = 7 }) end))
assert(raised == false and type(wrapped) == "table" and wrapped.code == 7)

local bad_ok, bad = pcall(coroutine.wrap, 42)
assert(bad_ok == false and bad:find("bad argument #1 to 'wrap' (function expected, got number)", 1, true), bad)
bad_ok, bad = pcall(coroutine.resume, "not a thread")
assert(bad_ok == false and bad:find("bad argument #1 to 'resume' (thread expected, got string)", 1, true), bad)
