-- en/lua/dynamic/exec.md, "start / wait", unchanged inside a function.
local exec = require("exec")
local executor = assert(exec.get("app:exec"))

local function build(script)
    local proc = executor:exec(script)

    local ok, err = proc:start()
    if err then
        return nil, err
    end

    local exit_code, err = proc:wait()
    if err then
        return nil, err
    end

    if exit_code ~= 0 then
        return nil, errors.new({ kind = errors.INTERNAL, message = "Build failed with exit code: " .. exit_code })
    end
    return exit_code
end

assert(build("./build.sh") == 0)

local code, err = build("./build.sh fail")
assert(code == nil)
assert(err:kind() == errors.INTERNAL)
assert(err:message() == "Build failed with exit code: 2", err:message())

-- A program that is not there: NOT_FOUND from start(), naming it.
-- In a container with an init (exec-docker's default) the init reports it
-- as a shell does: exit code 127.
local code, err = build("no-such-build-tool")
if TEST_BACKEND == "docker" then
    assert(code == nil and err:message() == "Build failed with exit code: 127", tostring(err))
else
    assert(code == nil and err:kind() == errors.NOT_FOUND, tostring(err))
    assert(err:message():find("no-such-build-tool", 1, true))
end
