-- Read a command's stdout and stderr at the same time, the way Wippy scripts
-- do: one coroutine.spawn per stream sends the chunks over a channel, and the
-- main flow selects over both channels, the exit (proc:done()) and a timer.
-- Needs no config:
--
--   cargo run -p exec-lua -- examples/both-streams.lua
--
-- Reading stdout to its end and then stderr would hang here: the command
-- writes 2 MB to stderr before it writes anything to stdout, and stops once
-- the unread stderr fills its pipe and buffer.
local exec = require("exec")
local time = require("time")

local shell = assert(exec.get("app:shell"))

-- A channel that gets every chunk of `stream`, and is closed at its end.
local function pump(stream)
    local chunks = channel.new(4)
    coroutine.spawn(function()
        while true do
            local chunk, err = stream:read()
            if err then error(err) end
            if not chunk then break end
            chunks:send(chunk)
        end
        chunks:close()
    end)
    return chunks
end

-- Runs `command` for at most `limit` (a duration such as "10s"); returns its
-- stdout, stderr, exit status ({code, signal, error}) and whether the limit
-- ended it.
local function run(command, limit)
    local proc = assert(shell:exec(command))
    local stdout, stderr = proc:stdout_stream(), proc:stderr_stream()
    assert(proc:start())
    local out_ch, err_ch = pump(stdout), pump(stderr)
    local exit = assert(proc:done())
    local timeout = time.after(limit)

    local out, err, status, timed_out = {}, {}, nil, false
    local out_open, err_open = true, true
    while out_open or err_open or not status do
        local cases = { timeout:case_receive() }
        if out_open then cases[#cases + 1] = out_ch:case_receive() end
        if err_open then cases[#cases + 1] = err_ch:case_receive() end
        if not status then cases[#cases + 1] = exit:case_receive() end

        local r = channel.select(cases)
        if r.channel == out_ch then
            if r.ok then out[#out + 1] = r.value else out_open = false end
        elseif r.channel == err_ch then
            if r.ok then err[#err + 1] = r.value else err_open = false end
        elseif r.channel == exit then
            status = r.value
        elseif r.channel == timeout then
            timed_out = true
            proc:close()            -- returns at once; the process group is ended
        end
    end
    return table.concat(out), table.concat(err), status, timed_out
end

local out, err, status = run("sh -c 'head -c 2000000 /dev/zero >&2; echo done'", "30s")
print(("stdout: %q, stderr: %d bytes, exit code %d"):format((out:gsub("\n$", "")), #err, status.code))

local _, _, late, timed_out = run("sh -c 'echo working; exec sleep 60'", "1s")
print(("a command that ran too long: timed out %s, exit code %d (signal %d)"):format(
    tostring(timed_out), late.code, late.signal))

-- The same with a scanner: lines as they come, from both streams at once.
local proc = assert(shell:exec("sh -c 'for i in 1 2 3; do echo out $i; echo err $i >&2; done'"))
assert(proc:start())
local lines = channel.new()
local open = 0
for _, stream in ipairs({ proc:stdout_stream(), proc:stderr_stream() }) do
    local scanner = assert(stream:scanner("lines"))
    open = open + 1
    coroutine.spawn(function()
        while scanner:scan() do lines:send(scanner:text()) end
        if scanner:err() then error(scanner:err()) end
        lines:send(nil)             -- this stream is done
    end)
end
local count = 0
while open > 0 do
    local line = lines:receive()
    if line then count = count + 1 else open = open - 1 end
end
print(("%d lines from both streams, exit code %d"):format(count, proc:wait()))
