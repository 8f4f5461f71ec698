//! The JSON of Docker's `/events` stream, as a container's end and exit
//! code are learnt from it: any line is an event or not, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        let _ = exec_docker::fuzzing::event(line);
    }
});
