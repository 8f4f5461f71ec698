-- Commands in throwaway containers, as examples/docker.yaml sets them up:
--
--   cargo run -p exec-lua -- --config examples/docker.yaml examples/docker.lua
local exec = require("exec")
local sandbox = assert(exec.get("app:sandbox"))

local function run(command, input)
    local proc = assert(sandbox:exec(command))
    local out, err = proc:stdout_stream(), proc:stderr_stream()
    assert(proc:start())
    if input then
        assert(proc:write_stdin(input))
        assert(proc:close_stdin())       -- EOF reaches the command
    end
    local text, errors = out:read_all(), err:read_all()
    return text, errors, proc:wait()
end

print("id:        " .. run("id"):gsub("\n", ""))
print("network:   " .. run("ls /sys/class/net"):gsub("\n", " "))
local _, denied, code = run("touch /etc/owned")
print(("write /:   exit %d (%s)"):format(code, denied:gsub("\n", "")))
print("write tmp: " .. run("sh -c 'echo scratch > /tmp/f && cat /tmp/f'"):gsub("\n", ""))
print("sorted:    " .. run("sort", "pear\napple\nfig\n"):gsub("\n", " "))

-- No host pid for a container; signals go through the daemon.
local sleeper = assert(sandbox:exec("sleep 30"))
assert(sleeper:start())
local pid, why = sleeper:pid()
print("pid:       " .. tostring(pid) .. " (" .. why:kind() .. ")")
assert(sleeper:signal(15))
print("signalled: exit " .. sleeper:wait())
