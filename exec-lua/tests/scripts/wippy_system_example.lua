-- en/system/exec.md, "Lua API", with `ls` in `/` for
-- `git status` in /app/repo (neither git nor /app/repo is on every machine).
local exec = require("exec")

local executor, err = exec.get("app:shell")
if err then return nil, err end

local proc = executor:exec("ls", {
    work_dir = "/"
})

local stdout = proc:stdout_stream()
proc:start()
local output = stdout:read()
proc:wait()

stdout:close()
executor:release()

assert(output:find("bin", 1, true), output)
