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
