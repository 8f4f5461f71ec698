//! The certificate reader TLS errors name certificates with: any bytes are
//! a certificate summary or `None`, never a panic.
#![no_main]

use exec_core::backend::x509::{Summary, utc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(summary) = Summary::parse(data) {
        let _ = summary.to_string();
        let _ = summary.valid_at(0);
        let _ = utc(summary.not_before);
    }
});
