//! The YAML config loader, with every kind (native, Docker, Incus): any
//! text loads or is an error naming where, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut loader = exec_config::Loader::new();
    match loader.load_str(text, std::path::Path::new("fuzz.yaml"), Some("fuzz")) {
        Ok(ids) => {
            for id in ids {
                assert!(
                    loader.registry().get(&id).is_ok(),
                    "{id} loaded but not there"
                );
            }
        }
        Err(error) => {
            let _ = error.kind();
            assert!(!error.to_string().is_empty());
        }
    }
});
