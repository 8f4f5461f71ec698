//! The control messages sent to an Incus command (signals, window
//! resizes): valid JSON the daemon reads back to the same numbers — the
//! resize's as strings, as the daemon wants them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (i32, u16, u16)| {
    let (signal, width, height) = data;
    let [signal_message, resize] = exec_incus::fuzzing::control(signal, width, height);
    let signal_message: serde_json::Value = serde_json::from_str(&signal_message).expect("JSON");
    assert_eq!(signal_message["command"], "signal");
    assert_eq!(signal_message["signal"], signal);
    let resize: serde_json::Value = serde_json::from_str(&resize).expect("JSON");
    assert_eq!(resize["command"], "window-resize");
    assert_eq!(resize["args"]["width"], width.to_string());
    assert_eq!(resize["args"]["height"], height.to_string());
});
