//! The JSON of Incus's answers and events (the exec operation, its
//! websocket secrets, `metadata.return`, the operation's end): read or
//! refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = exec_incus::fuzzing::answer(data);
    assert!(answer.secrets <= 4);
    if answer.operation {
        assert!(answer.envelope);
    }
});
