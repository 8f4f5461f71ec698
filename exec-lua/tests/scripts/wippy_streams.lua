-- en/lua/dynamic/exec.md, "stdout_stream / stderr_stream", unchanged inside a
-- function.
local exec = require("exec")
local executor = assert(exec.get("app:exec"))

local function process_data(script)
    local proc = executor:exec(script)

    local stdout = proc:stdout_stream()
    local stderr = proc:stderr_stream()

    proc:start()

    -- Read all stdout
    local output = {}
    while true do
        local chunk = stdout:read(4096)
        if not chunk then break end
        table.insert(output, chunk)
    end
    local result = table.concat(output)

    -- Check for errors
    local err_output = {}
    while true do
        local chunk = stderr:read(4096)
        if not chunk then break end
        table.insert(err_output, chunk)
    end

    local exit_code = proc:wait()

    stdout:close()
    stderr:close()

    if exit_code ~= 0 then
        return nil, errors.new({ kind = errors.INTERNAL, message = table.concat(err_output) })
    end

    return result
end

local result, err = process_data("./process-data.sh")
assert(err == nil, tostring(err))
assert(result == "data line 1\ndata line 2\n", result)

local result, err = process_data("./process-data.sh fail")
assert(result == nil)
assert(err:kind() == errors.INTERNAL)
assert(err:message() == "warning: something\nfailed\n", err:message())

-- The same stream object each time.
local proc = executor:exec("true")
assert(rawequal(proc:stdout_stream(), proc:stdout_stream()))
assert(rawequal(proc:stderr_stream(), proc:stderr_stream()))
assert(not rawequal(proc:stdout_stream(), proc:stderr_stream()))
proc:close()

-- The rest of Wippy's stream methods, as a process pipe answers them: stat()
-- describes a read-only pipe of unknown size; write and seek are error
-- values (INTERNAL, as Wippy's stream module says); flush has nothing to do.
local piped = assert(executor:exec("echo piped"))
local out = piped:stdout_stream()
local info = assert(out:stat())
assert(info.size == -1 and info.position == -1, info.size .. " " .. info.position)
assert(info.readable == true and info.writable == false and info.seekable == false)
local written, werr = out:write("x")
assert(written == 0 and werr:kind() == errors.INTERNAL and werr:message():find("not writable"), tostring(werr))
assert(werr:retryable() == false)
local pos, serr = out:seek("set", 0)
assert(pos == -1 and serr:kind() == errors.INTERNAL and serr:message():find("not seekable"), tostring(serr))
assert(select(2, out:seek()):kind() == errors.INTERNAL)
local bad_whence, bad_msg = pcall(out.seek, out, "middle")
assert(not bad_whence and tostring(bad_msg):find("invalid whence", 1, true), tostring(bad_msg))
assert(out:flush() == true)
assert(piped:start())
assert(out:read_all() == "piped\n")
assert(piped:wait() == 0)
assert(out:close() == true)
local closed_info, cerr = out:stat()
assert(closed_info == nil and cerr:message():find("closed"), tostring(cerr))
local flushed, ferr = out:flush()
assert(flushed == false and ferr:message():find("closed"), tostring(ferr))
local w, wclosed = out:write("x")
assert(w == 0 and wclosed:message():find("closed"), tostring(wclosed))
