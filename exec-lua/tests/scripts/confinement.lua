-- On an executor with a whitelist, a call cannot set the variables or pick
-- the work dir that would make the whitelisted command run something else.
local exec = require("exec")
local restricted = assert(exec.get("app:restricted"))

for _, name in ipairs({ "LD_PRELOAD", "PATH", "GIT_CONFIG_COUNT", "BASH_ENV", "LANG" }) do
    local proc, err = restricted:exec("echo hello", { env = { [name] = "x" } })
    assert(proc == nil, name .. " was accepted")
    assert(err:kind() == errors.PERMISSION_DENIED, tostring(err))
    assert(err:message():find("the variable " .. name, 1, true), err:message())
    assert(err:message():find("env_allow", 1, true), err:message())
end

for _, dir in ipairs({ "/", "/etc", "..", "../.." }) do
    local proc, err = restricted:exec("echo hello", { work_dir = dir })
    assert(proc == nil, dir .. " was accepted")
    assert(err:kind() == errors.PERMISSION_DENIED, tostring(err))
    assert(err:message():find("outside default_work_dir", 1, true), err:message())
end

-- Inside the configured work dir (here given relative to it), it runs.
local proc = assert(restricted:exec({ "echo", "hello" }, { work_dir = "." }))
local out = proc:stdout_stream()
assert(proc:start())
assert(out:read_all() == "hello\n")
assert(proc:wait() == 0)

-- An executor without a whitelist may run anything anyway: no confinement.
local shell = assert(exec.get("app:shell"))
assert(shell:exec("env", { env = { LD_PRELOAD = "", LANG = "C" }, work_dir = "/" }))
