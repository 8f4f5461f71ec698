//! The output decoder: bytes in a legacy encoding, handed over in pieces
//! cut anywhere, decode to what the whole decodes to in one piece.
#![no_main]

use exec_core::Pipes;
use exec_core::decode::encoding_for_label;
use libfuzzer_sys::fuzz_target;

const LABELS: &[&str] = &[
    "cp949",
    "euc-kr",
    "shift_jis",
    "cp932",
    "gbk",
    "big5",
    "euc-jp",
    "windows-1252",
    "utf-8",
    "utf-16le",
    "utf-16be",
    "iso-8859-5",
    "koi8-r",
    "gb18030",
];

fuzz_target!(|data: &[u8]| {
    let [label, cuts, bytes @ ..] = data else {
        return;
    };
    let Ok(encoding) = encoding_for_label(LABELS[usize::from(*label) % LABELS.len()]) else {
        return;
    };
    let whole = {
        let mut decoder = encoding.new_decoder_with_bom_removal();
        let mut out =
            String::with_capacity(decoder.max_utf8_buffer_length(bytes.len()).unwrap_or(0));
        let _ = decoder.decode_to_string(bytes, &mut out, true);
        out
    };
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    });
    let pieces = runtime.block_on(async {
        let (pipes, backend) = Pipes::new(Some(encoding), 1 << 20);
        let mut reader = pipes.take_stdout().expect("stdout");
        let mut sink = backend.stdout;
        // Pieces of 1 to 8 bytes, their sizes drawn from `cuts`.
        let mut rest = bytes;
        let mut seed = *cuts;
        while !rest.is_empty() {
            let size = usize::from(seed % 8 + 1).min(rest.len());
            seed = seed.rotate_left(3) ^ 0x5a;
            let (piece, tail) = rest.split_at(size);
            sink.write(piece).await;
            rest = tail;
        }
        drop(sink);
        reader.read_to_vec().await.expect("an uncut stream")
    });
    assert_eq!(String::from_utf8(pieces).expect("UTF-8 out"), whole);
});
