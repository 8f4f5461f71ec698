-- The channel, select and coroutine.spawn examples of Wippy's docs, unchanged
-- (wippyai/docs en/lua/core/channel.md, en/tutorials/channels.md,
-- en/lua/overview.md, en/lua/core/base.md; wippyai/runtime
-- runtime/lua/engine/spec.md). Each runs in a block of its own; the names a
-- page takes as given (tasks, process, worker, ...) are defined just before
-- it, and what the page says in comments is checked just after it.

-- en/lua/core/channel.md, "Creating Channels"
do
    -- Unbuffered: synchronizes sender and receiver
    local sync_ch = channel.new()

    -- Buffered: queue up to 10 messages
    local work_queue = channel.new(10)

    assert(tostring(sync_ch):find("channel", 1, true))
    assert(work_queue ~= sync_ch)
end

-- en/lua/core/channel.md, "Sending Values"
do
    local tasks = { "a", "b", "c" }

    -- Send work to a worker pool
    local jobs = channel.new(100)
    for i, task in ipairs(tasks) do
        jobs:send(task)  -- Blocks if buffer full
    end
    jobs:close()  -- Signal no more work

    assert(jobs:receive() == "a" and jobs:receive() == "b" and jobs:receive() == "c")
    assert(select(2, jobs:receive()) == false)
end

-- en/lua/core/channel.md, "Receiving Values"
do
    local work = channel.new(3)
    work:send(1)
    work:send(2)
    work:close()
    local processed = {}
    local function process(job) processed[#processed + 1] = job end

    -- Worker consuming from job queue
    while true do
        local job, ok = work:receive()
        if not ok then
            break  -- Channel closed, no more work
        end
        process(job)
    end

    assert(#processed == 2 and processed[1] == 1 and processed[2] == 2)
end

-- en/lua/core/channel.md, "Closing Channels"
do
    local data = { 1, 2, 3 }
    local function process(item) return item * 10 end

    local results = channel.new(10)

    -- Producer fills results
    for _, item in ipairs(data) do
        results:send(process(item))
    end
    results:close()  -- Signal completion

    local sum = 0
    for _ = 1, 3 do sum = sum + results:receive() end
    assert(sum == 60)
end

-- en/lua/core/channel.md, "Timeout Pattern" (in a function: it returns)
do
    local worker = {
        response = function()
            local ch = channel.new(1)
            ch:send("the answer")
            return ch
        end,
    }
    local function call()
        local time = require("time")

        local result_ch = worker:response()
        local timeout = time.after("5s")

        local r = channel.select {
            result_ch:case_receive(),
            timeout:case_receive()
        }

        if r.channel == timeout then
            return nil, errors.new("TIMEOUT", "Operation timed out")
        end
        return r.value
    end
    assert(call() == "the answer")
end

-- en/lua/core/channel.md, "Non-blocking Check"
do
    local ch = channel.new(1)
    local seen = {}
    local function process(value) seen[#seen + 1] = value end

    for _, send in ipairs({ false, true }) do
        if send then ch:send("now") end

        local r = channel.select {
            ch:case_receive(),
            default = true
        }

        if r.default then
            -- Nothing available, do something else
            seen[#seen + 1] = "nothing"
        else
            process(r.value)
        end
    end
    assert(seen[1] == "nothing" and seen[2] == "now")
end

-- en/tutorials/channels.md, "Buffered Channels"
do
    local ch = channel.new(3)  -- buffer holds 3 items

    -- Send without blocking
    ch:send(1)
    ch:send(2)
    ch:send(3)

    -- Receive in FIFO order
    local v1, ok1 = ch:receive()  -- 1, true
    local v2, ok2 = ch:receive()  -- 2, true
    local v3, ok3 = ch:receive()  -- 3, true

    assert(v1 == 1 and v2 == 2 and v3 == 3 and ok1 and ok2 and ok3)
end

-- en/tutorials/channels.md, "Unbuffered Channels"
do
    local ch = channel.new(0)  -- unbuffered
    local done = channel.new(1)

    coroutine.spawn(function()
        ch:send("from spawn")  -- blocks until receiver ready
        done:send(true)
    end)

    local val = ch:receive()  -- receives "from spawn"
    local completed = done:receive()

    assert(val == "from spawn" and completed == true)
end

-- en/tutorials/channels.md, "Channel Select"
do
    local ch1 = channel.new(1)
    local ch2 = channel.new(1)

    ch1:send("ch1_value")

    local result = channel.select{
        ch1:case_receive(),
        ch2:case_receive()
    }

    -- result is a table with: channel, value, ok
    assert(result.channel == ch1)  -- true
    assert(result.value == "ch1_value")
    assert(result.ok == true)
end

-- en/tutorials/channels.md, "Select with Send"
do
    local ch = channel.new(1)

    local result = channel.select{
        ch:case_send("sent")
    }

    assert(result.ok)  -- true (send succeeded)

    local v = ch:receive()  -- "sent"
    assert(v == "sent" and result.channel == ch and result.value == "sent")
end

-- en/tutorials/channels.md, "Producer-Consumer Pattern"
do
    local ch = channel.new(5)
    local done = channel.new(1)
    local consumed = 0

    -- Consumer
    coroutine.spawn(function()
        while true do
            local v, ok = ch:receive()
            if not ok then break end
            consumed = consumed + 1
        end
        done:send(consumed)
    end)

    -- Producer
    for i = 1, 10 do
        ch:send(i)
    end
    ch:close()

    local total = done:receive()  -- 10
    assert(total == 10)
end

-- en/tutorials/channels.md, "Ping-Pong Pattern"
do
    local ping = channel.new(0)
    local pong = channel.new(0)
    local rounds_done = channel.new(1)

    coroutine.spawn(function()
        for i = 1, 5 do
            ping:receive()
            pong:send("pong")
        end
        rounds_done:send(true)
    end)

    for i = 1, 5 do
        ping:send("ping")
        pong:receive()
    end

    local completed = rounds_done:receive()
    assert(completed == true)
end

-- en/tutorials/channels.md, "Fan-Out Pattern"
do
    local work = channel.new(10)
    local results = channel.new(10)

    -- Spawn 3 workers
    for w = 1, 3 do
        coroutine.spawn(function()
            while true do
                local job, ok = work:receive()
                if not ok then break end
                results:send(job * 2)
            end
        end)
    end

    -- Send work
    for i = 1, 6 do
        work:send(i)
    end
    work:close()

    -- Collect results
    local sum = 0
    for i = 1, 6 do
        local r = results:receive()
        sum = sum + r
    end
    -- sum = (1+2+3+4+5+6)*2 = 42
    assert(sum == 42)
end

-- en/tutorials/channels.md, "Fan-In Pattern"
do
    local output = channel.new(10)
    local producer_count = 4
    local items_per_producer = 5

    -- Spawn producers
    for p = 1, producer_count do
        coroutine.spawn(function()
            for i = 1, items_per_producer do
                output:send({producer = p, item = i})
            end
        end)
    end

    -- Collect all messages
    local received = {}
    for i = 1, producer_count * items_per_producer do
        local msg = output:receive()
        table.insert(received, msg)
    end

    -- Verify all producers sent their items
    local counts = {}
    for _, msg in ipairs(received) do
        counts[msg.producer] = (counts[msg.producer] or 0) + 1
    end

    for p = 1, producer_count do assert(counts[p] == items_per_producer) end
end

-- en/tutorials/channels.md, "Closing Channels"
do
    local ch = channel.new(5)
    local done = channel.new(1)

    coroutine.spawn(function()
        local count = 0
        while true do
            local v, ok = ch:receive()
            if not ok then break end  -- channel closed
            count = count + 1
        end
        done:send(count)
    end)

    for i = 1, 10 do
        ch:send(i)
    end
    ch:close()  -- signal no more values

    local total = done:receive()
    assert(total == 10)
end

-- en/lua/overview.md, "Channels" and "Coroutines"
do
    local value = "v"
    local ch = channel.new()        -- unbuffered
    local buffered = channel.new(10)
    local function fetch_data() return "data" end
    local other_work = 0
    local function do_other_work() other_work = other_work + 1 end

    coroutine.spawn(function()
        local data = fetch_data()
        ch:send(data)
    end)

    do_other_work()  -- continues immediately

    local val, ok = ch:receive()    -- blocks until ready
    assert(val == "data" and ok and other_work == 1)
    buffered:send(value)
    assert(buffered:receive() == "v")
end

-- en/lua/core/base.md, "Spawning Concurrent Coroutines": the spawned loop
-- runs until the main chunk ends (then the host stops it).
do
    local checks = 0
    local function check_health() checks = checks + 1 end
    local handled = false
    local function process_request() handled = true end

    -- Spawn background task
    coroutine.spawn(function()
        while true do
            check_health()
            time.sleep("30s")
        end
    end)

    -- Continue main execution immediately
    process_request()

    assert(checks == 1 and handled)
end

-- runtime/lua/engine/spec.md, "channel.select"
do
    local ch1 = channel.new(1)
    local ch2 = channel.new(1)

    ch1:send("hello")

    -- Blocking select
    local result = channel.select{
        ch1:case_receive(),
        ch2:case_receive()
    }
    -- result.channel == ch1
    -- result.value == "hello"
    -- result.ok == true
    assert(result.channel == ch1 and result.value == "hello" and result.ok == true)

    -- Non-blocking select with default
    local result2 = channel.select{
        ch1:case_receive(),
        ch2:case_receive(),
        default = true   -- key inside the table, not second argument
    }
    -- If no channel ready: result2.default == true, result2.ok == true
    -- If channel ready: result2.default == nil, normal result
    assert(result2.default == true and result2.ok == true and result2.channel == nil)
end

-- runtime/lua/engine/spec.md, "ch:receive" and "ch:close"
do
    local ch = channel.new(1)
    ch:send("hello")
    local val, ok = ch:receive()  -- val="hello", ok=true

    ch:close()
    val, ok = ch:receive()        -- val=nil, ok=false
    assert(val == nil and ok == false)
end
do
    local ch = channel.new(1)
    ch:send("buffered")
    ch:close()

    local v1, ok1 = ch:receive()  -- v1="buffered", ok1=true
    local v2, ok2 = ch:receive()  -- v2=nil, ok2=false
    assert(v1 == "buffered" and ok1 == true and v2 == nil and ok2 == false)
end

-- runtime/lua/engine/spec.md, "ch:case_send" and "ch:case_receive"
do
    local ch = channel.new(1)
    local case = ch:case_send("hello")
    local result = channel.select{case}
    assert(result.ok and result.value == "hello")
end
do
    local ch = channel.new(1)
    ch:send("there")
    local case = ch:case_receive()
    local result = channel.select{case}
    -- result.value contains received value
    assert(result.value == "there")
end

-- runtime/lua/engine/spec.md, "coroutine.spawn"
do
    local ch = channel.new(0)

    coroutine.spawn(function()
        -- This runs concurrently, not cooperatively
        local val = ch:receive()  -- blocks until sender ready
        print("received:", val)
    end)

    ch:send("hello")  -- unblocks the spawned coroutine
end

-- runtime/lua/engine/spec.md, "Example"
do
    -- Producer-consumer pattern
    local ch = channel.new(5)
    local done = channel.new(1)

    -- Producer
    coroutine.spawn(function()
        for i = 1, 10 do
            ch:send(i)
        end
        ch:close()
    end)

    -- Consumer
    coroutine.spawn(function()
        local sum = 0
        while true do
            local v, ok = ch:receive()
            if not ok then break end
            sum = sum + v
        end
        done:send(sum)
    end)

    local total = done:receive()  -- 55
    assert(total == 55)

    -- Select with multiple channels
    local fast = channel.new(1)
    local slow = channel.new(1)

    coroutine.spawn(function()
        -- simulate work
        fast:send("fast result")
    end)

    coroutine.spawn(function()
        -- simulate slower work
        slow:send("slow result")
    end)

    local result = channel.select{
        fast:case_receive(),
        slow:case_receive()
    }
    -- result.value is whichever arrived first
    assert(result.value == "fast result" or result.value == "slow result")
end

-- The spec's "ch:send" example ends on a send that blocks for ever (no
-- receiver): here a spawned receiver takes it.
do
    local ch = channel.new(1)
    coroutine.spawn(function() ch:receive(); ch:receive() end)
    assert(ch:send("hello") == true)    -- returns true
    assert(ch:send("world") == true)    -- blocks until receiver
end

-- `channel` is also a module, as some newer pages load it.
assert(require("channel") == channel)
assert(require("time") == time)
