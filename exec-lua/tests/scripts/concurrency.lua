-- Both streams drained at once, as Wippy scripts do it: coroutine.spawn per
-- stream, channels, channel.select over the streams, the exit (proc:done())
-- and a timer (time.after).
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
local time = require("time")
local shell = assert(exec.get("app:shell"))

local MiB = 1024 * 1024

-- 1. The deadlock of reading stdout to its end before stderr: 10 MiB go to
--    stderr before anything goes to stdout. One spawned coroutine per stream
--    drains it; every byte is counted.
local proc = assert(shell:exec(
    "sh -c 'head -c " .. 10 * MiB .. " /dev/zero >&2; head -c " .. 10 * MiB .. " /dev/zero; echo done'"))
local stdout, stderr = proc:stdout_stream(), proc:stderr_stream()
assert(proc:start())
local counted = channel.new()
for name, stream in pairs({ stdout = stdout, stderr = stderr }) do
    coroutine.spawn(function()
        local bytes = 0
        while true do
            local chunk, err = stream:read()
            assert(not err, tostring(err))
            if not chunk then break end
            bytes = bytes + #chunk
        end
        counted:send({ name = name, bytes = bytes })
    end)
end
local totals = {}
for _ = 1, 2 do
    local r = counted:receive()
    totals[r.name] = r.bytes
end
assert(totals.stderr == 10 * MiB, "stderr: " .. tostring(totals.stderr))
assert(totals.stdout == 10 * MiB + #"done\n", "stdout: " .. tostring(totals.stdout))
assert(proc:wait() == 0)

-- 2. A select loop over both streams, the exit and a timer.
local function pump(stream)
    local ch = channel.new(4)
    coroutine.spawn(function()
        while true do
            local chunk = stream:read()
            if not chunk then break end
            ch:send(chunk)
        end
        ch:close()
    end)
    return ch
end

local function run(command, limit)
    local p = assert(shell:exec(command))
    local out_stream, err_stream = p:stdout_stream(), p:stderr_stream()
    assert(p:start())
    local out_ch, err_ch = pump(out_stream), pump(err_stream)
    local exit = assert(p:done())
    assert(rawequal(p:done(), exit), "done() returns the same channel")
    local timeout = time.after(limit)
    local out, err, status, timed_out = {}, {}, nil, false
    local out_open, err_open = true, true
    while out_open or err_open or not status do
        local cases = {}
        if out_open then cases[#cases + 1] = out_ch:case_receive() end
        if err_open then cases[#cases + 1] = err_ch:case_receive() end
        if not status then cases[#cases + 1] = exit:case_receive() end
        cases[#cases + 1] = timeout:case_receive()
        local r = channel.select(cases)
        if r.channel == out_ch then
            if r.ok then out[#out + 1] = r.value else out_open = false end
        elseif r.channel == err_ch then
            if r.ok then err[#err + 1] = r.value else err_open = false end
        elseif r.channel == exit then
            status = r.value
        elseif r.channel == timeout then
            timed_out = true
            assert(p:close() == true)          -- returns at once
        else
            error("a select result with no channel of ours")
        end
    end
    return table.concat(out), table.concat(err), status, timed_out, p
end

local out, err, status, timed_out, p = run(
    "sh -c 'for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done; exit 3'", "10s")
assert(not timed_out)
assert(out == "out 1\nout 2\nout 3\nout 4\nout 5\n", out)
assert(err == "err 1\nerr 2\nerr 3\nerr 4\nerr 5\n", err)
assert(status.code == 3 and status.signal == nil and status.error == nil)
assert(p:wait() == 3, "wait() after done() returns the recorded code")
assert(has_pid(p), "the process stays usable after done()")

-- 3. A command that runs too long is closed by the timer; its exit still
--    arrives on the done() channel.
local within = time.after("5s")      -- received from only if 5 s have gone by
out, err, status, timed_out, p = run("sh -c 'echo started; exec sleep 30'", "300ms")
assert(timed_out)
assert(out == "started\n", out)
assert(status.code == 128 + 15 and status.signal == 15, tostring(status.code))
assert(channel.select({ within:case_receive(), default = true }).default, "took 5 s or more")
local code, werr = p:wait()
assert(code == nil and werr:kind() == errors.INVALID, "wait() after close() is refused")

-- 4. Spawned coroutines each run a process, at the same time; the main flow
--    collects them.
within = time.after("2s")
local results = channel.new(8)
for i = 1, 8 do
    coroutine.spawn(function(n)
        local q = assert(shell:exec("sh -c 'sleep 0.1; echo " .. n .. "'"))
        local o = q:stdout_stream()
        assert(q:start())
        local text = o:read_all()
        results:send({ n = n, text = text, code = q:wait() })
    end, i)
end
local seen = {}
for _ = 1, 8 do
    local r = results:receive()
    assert(r.text == r.n .. "\n" and r.code == 0)
    seen[r.n] = true
end
for i = 1, 8 do assert(seen[i]) end
assert(channel.select({ within:case_receive(), default = true }).default, "not run at once")
