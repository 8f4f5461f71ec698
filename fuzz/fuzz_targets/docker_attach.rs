//! Docker's multiplexed attach stream, as bollard decodes it from a daemon
//! and exec-docker hands it to the user: whole frames reach their stream
//! unchanged; anything else ends the stream with a "was cut" error, never
//! as output, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// How the bytes end, read strictly.
#[derive(PartialEq)]
enum End {
    /// Whole frames of streams 0 to 2 (stdin's are dropped).
    Whole,
    /// Not whole frames.
    Cut,
    /// Whole frames, then the header of one whose payload never came.
    /// bollard takes that for the end (its decoder keeps the header to
    /// itself and meets the end with nothing left over): a cut nobody past
    /// bollard can see, left to bollard (docs/reliability.md).
    HeaderOnly,
}

/// What a strict reading of the frames gives: stdout, stderr, and how the
/// bytes end.
fn frames(mut raw: &[u8]) -> (Vec<u8>, Vec<u8>, End) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !raw.is_empty() {
        let Some((header, rest)) = raw.split_first_chunk::<8>() else {
            return (out, err, End::Cut);
        };
        let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if header[0] <= 2 && rest.is_empty() && length > 0 {
            return (out, err, End::HeaderOnly);
        }
        if header[0] > 2 || rest.len() < length {
            return (out, err, End::Cut);
        }
        let (payload, rest) = rest.split_at(length);
        match header[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            _ => {}
        }
        raw = rest;
    }
    (out, err, End::Whole)
}

fuzz_target!(|data: &[u8]| {
    let [mode, raw @ ..] = data else {
        return;
    };
    let tty = mode & 1 == 1;
    let got = exec_docker::fuzzing::attach(raw, tty);
    if tty {
        // A terminal's stream is raw bytes; bollard still reads a first
        // byte of 0 to 2 as a header (left to it), so only the bounds hold.
        assert!(got.stdout.len() <= raw.len());
        return;
    }
    let (out, err, end) = frames(raw);
    if end != End::Cut {
        if end == End::Whole {
            assert_eq!(got.cut, None, "whole frames are not a cut stream");
        }
        assert_eq!(got.stdout, out);
        assert_eq!(got.stderr, err);
    } else {
        let cut = got
            .cut
            .expect("bytes that are not whole frames cut the stream");
        assert!(cut.contains("was cut"), "{cut}");
        // What came before is the frames' own payload, never header bytes.
        assert!(
            out.starts_with(&got.stdout),
            "stdout holds bytes no frame carried"
        );
        assert!(
            err.starts_with(&got.stderr),
            "stderr holds bytes no frame carried"
        );
    }
});
