//! Websocket frames as an Incus daemon sends them on a command's output
//! socket: what is read is what binary and text frames carried; the stream
//! ends at the empty text frame or a close frame, and any other end is a
//! "was cut" error, never EOF, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let got = exec_incus::fuzzing::output(data);
    if let Some(cut) = &got.cut {
        assert!(cut.contains("was cut"), "{cut}");
    }
    // Frames carry at most what came in (headers take room of their own).
    assert!(got.bytes.len() <= data.len());
});
