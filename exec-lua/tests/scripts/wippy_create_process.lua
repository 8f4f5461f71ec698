-- en/lua/dynamic/exec.md, "Creating a Process": the four forms, unchanged.
-- The process is created but not started, so the programs and directories
-- need not exist until start().
local exec = require("exec")
local executor = assert(exec.get("app:exec"))
local api_key = "secret"

-- Simple command
local proc, err = executor:exec("echo 'Hello, World!'")
assert(proc and not err)

-- With working directory
local proc = executor:exec("npm install", {
    work_dir = "/app/project"
})
assert(proc)

-- With environment variables
local proc = executor:exec("python script.py", {
    work_dir = "/scripts",
    env = {
        PYTHONPATH = "/app/lib",
        DEBUG = "true",
        API_KEY = api_key
    }
})
assert(proc)

-- Run shell script
local proc = executor:exec("./deploy.sh production", {
    work_dir = "/app/scripts",
    env = {
        DEPLOY_ENV = "production"
    }
})
assert(proc)

-- Nothing was started: a missing work dir shows only at start().
if TEST_BACKEND == "docker" then
    -- docker run creates a missing work dir; the script is not in it.
    assert(proc:start())
    assert(proc:wait() == 127)
else
    local ok, start_err = proc:start()
    assert(ok == nil and start_err:kind() == errors.NOT_FOUND, tostring(start_err))
    assert(start_err:message():find("/app/scripts", 1, true), start_err:message())
end

-- The same script in the executor's default work dir (where the test put it) runs.
local deploy = assert(executor:exec("./deploy.sh production", { env = { DEPLOY_ENV = "staging" } }))
local out = deploy:stdout_stream()
assert(deploy:start())
assert(out:read_all() == "deploying production to staging\n")
assert(deploy:wait() == 0)
executor:release()
