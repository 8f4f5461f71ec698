-- Every misuse returns an INVALID error value: nothing raises, nothing crashes.
local exec = require("exec")
local executor = assert(exec.get("app:shell"))

local function invalid(what, pattern, value, err)
    assert(value == nil, what .. ": expected nil, got " .. tostring(value))
    assert(err ~= nil, what .. ": no error")
    assert(type(err) == "userdata", what .. ": error is a " .. type(err) .. ": " .. tostring(err))
    assert(err:kind() == errors.INVALID, what .. ": " .. err:kind() .. " " .. err:message())
    if pattern then
        assert(err:message():find(pattern, 1, true), what .. ": " .. err:message())
    end
end

-- exec.get with a bad id
invalid("get(nil)", nil, exec.get())
invalid("get(table)", nil, exec.get({}))

-- bad commands and options
invalid("exec()", nil, executor:exec())
invalid("exec(42)", nil, executor:exec(42))
invalid("empty command", "empty", executor:exec(""))
invalid("unclosed quote", nil, executor:exec('echo "oops'))
invalid("options not a table", "table", executor:exec("true", "fast"))
invalid("work_dir type", "work_dir", executor:exec("true", { work_dir = 42 }))
invalid("env type", "env", executor:exec("true", { env = "A=1" }))
invalid("env value type", "A", executor:exec("true", { env = { A = {} } }))
invalid("env name", nil, executor:exec("true", { env = { ["A=B"] = "1" } }))
invalid("timeout type", "timeout", executor:exec("true", { timeout = "soon" }))
invalid("timeout zero", "timeout", executor:exec("true", { timeout = 0 }))
invalid("timeout negative", "timeout", executor:exec("true", { timeout = -1 }))
invalid("pty type", "pty", executor:exec("true", { pty = "yes" }))
invalid("pty width 0", "width", executor:exec("true", { pty = { width = 0, height = 30 } }))
invalid("pty height too big", "height", executor:exec("true", { pty = { width = 80, height = 70000 } }))
invalid("pty fractional width", "width", executor:exec("true", { pty = { width = 80.5 } }))
invalid("pty term path", "term", executor:exec("true", { pty = { term = "../../tmp/evil" } }))
invalid("pty term type", "pty.term", executor:exec("true", { pty = { term = 42 } }))
-- confine fails closed, as Wippy's does where it cannot confine.
invalid("confine", "confine", executor:exec("true", { confine = { network = "none" } }))
invalid("confine false", "confine", executor:exec("true", { confine = false }))

-- before start
local proc = assert(executor:exec("cat"))
invalid("wait before start", "not started", proc:wait())
invalid("signal before start", "not started", proc:signal(15))
invalid("write before start", "not started", proc:write_stdin("x"))
invalid("read before start", "not started", proc:stdout_stream():read())
invalid("read_all before start", "not started", proc:stderr_stream():read_all())
invalid("pid before start", "not started", proc:pid())

-- start twice
assert(proc:start() == true)
invalid("start twice", "already started", proc:start())
invalid("bad signal", nil, proc:signal(-3))
invalid("signal not a number", nil, proc:signal("TERM"))
invalid("signal missing", nil, proc:signal())
invalid("write a table", nil, proc:write_stdin({}))

-- streams: bad size, read after close
local out = proc:stdout_stream()
invalid("negative read", nil, out:read(-1))
invalid("read a table", nil, out:read({}))
assert(out:close() == true)
assert(out:close() == true)
invalid("read after close", "closed", out:read())
invalid("read_all after close", "closed", out:read_all())
assert(rawequal(proc:stdout_stream(), out), "the closed stream is still the process's stdout")
local err_stream = proc:stderr_stream()

-- after close, every process method
assert(proc:close() == true)
invalid("start after close", "process closed", proc:start())
invalid("wait after close", "process closed", proc:wait())
invalid("signal after close", "process closed", proc:signal(15))
invalid("write after close", "process closed", proc:write_stdin("x"))
invalid("close_stdin after close", "process closed", proc:close_stdin())
invalid("stderr_stream after close", "process closed", proc:stderr_stream())
invalid("stdout_stream after close", "process closed", proc:stdout_stream())
invalid("pid after close", "process closed", proc:pid())
assert(err_stream:close() == true)
assert(proc:close(true) == true)
assert(proc:close("yes") == true)                -- force is Lua truth, never a type error

-- a process closed before it started has no output: its streams end at once
local unstarted = assert(executor:exec("echo never"))
local never_out = unstarted:stdout_stream()
assert(unstarted:close() == true)
assert(never_out:read() == nil)
assert(never_out:read_all() == "")

-- exec after release; release twice
assert(executor:release() == true)
assert(executor:release() == true)
invalid("exec after release", "released", executor:exec("true"))
