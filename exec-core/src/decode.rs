//! Output decoding: turn a stream in a legacy encoding into UTF-8.
//!
//! A Korean Windows guest writes CP949, an old Japanese tool Shift_JIS. Every
//! executor kind accepts an `output_encoding`; when it is set, the process's
//! stdout and stderr pass through a [`DecodingReader`], which is correct when a
//! character is split across reads (the decoder keeps the partial sequence).
//! Bytes that are not valid in the encoding become U+FFFD.

use crate::error::{Error, Result};
use encoding_rs::{Decoder, Encoding};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

pub use encoding_rs::Encoding as OutputEncoding;

/// Labels that Windows and Java use but the WHATWG label list (which encoding_rs
/// follows) does not know, mapped to the encoding that decodes them.
const EXTRA_LABELS: &[(&str, &str)] = &[
    ("cp949", "euc-kr"),
    ("uhc", "euc-kr"),
    ("ms949", "euc-kr"),
    ("cp932", "shift_jis"),
    ("cp936", "gbk"),
    ("ms936", "gbk"),
    ("cp950", "big5"),
    ("ms950", "big5"),
];

/// Looks up an encoding by label: every WHATWG label (`euc-kr`, `shift_jis`,
/// `gbk`, `windows-1252`, `utf-16le`, …) plus the Windows code-page names
/// `cp949`/`uhc` (EUC-KR's superset, which encoding_rs decodes as `euc-kr`),
/// `cp932`, `cp936` and `cp950`. Case and surrounding blanks are ignored.
///
/// The labels that WHATWG maps to its "replacement" encoding (`iso-2022-kr`,
/// `csiso2022kr`, `hz-gb-2312`, `iso-2022-cn`, `iso-2022-cn-ext` and
/// `replacement`) are refused: that encoding decodes any output at all into a
/// single U+FFFD, so naming one of them could only lose the output.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for `output_encoding` naming the label when it
/// is unknown, or when it maps to the "replacement" encoding.
///
/// ```
/// use exec_core::decode::encoding_for_label;
///
/// assert_eq!(encoding_for_label("CP949")?.name(), "EUC-KR");
/// assert_eq!(encoding_for_label("windows-1252")?.name(), "windows-1252");
/// assert!(encoding_for_label("klingon").is_err());
/// assert_eq!(
///     encoding_for_label("ISO-2022-KR").unwrap_err().to_string(),
///     "invalid output_encoding: encoding \"ISO-2022-KR\" cannot be decoded: WHATWG maps it to \
///      the \"replacement\" encoding, which turns all output into a single U+FFFD",
/// );
/// # Ok::<(), exec_core::Error>(())
/// ```
pub fn encoding_for_label(label: &str) -> Result<&'static Encoding> {
    let trimmed = label.trim().to_ascii_lowercase();
    let canonical = EXTRA_LABELS
        .iter()
        .find(|(extra, _)| *extra == trimmed)
        .map_or(trimmed.as_str(), |(_, canonical)| canonical);
    let invalid = |reason: String| Error::InvalidArgument {
        field: "output_encoding".to_owned(),
        reason,
    };
    match Encoding::for_label(canonical.as_bytes()) {
        // Its decoder emits one U+FFFD for the whole stream, whatever it holds.
        Some(encoding) if encoding == encoding_rs::REPLACEMENT => Err(invalid(format!(
            "encoding {label:?} cannot be decoded: WHATWG maps it to the \"replacement\" \
             encoding, which turns all output into a single U+FFFD"
        ))),
        Some(encoding) => Ok(encoding),
        None => Err(invalid(format!(
            "unknown encoding {label:?} (try utf-8, cp949, euc-kr, shift_jis, gbk, windows-1252)"
        ))),
    }
}

/// Decodes one piece of input, keeping a partial sequence in `decoder` for the
/// next piece; `last` flushes it (as U+FFFD).
pub(crate) fn decode_chunk(decoder: &mut Decoder, input: &[u8], last: bool) -> String {
    // Room for the whole input plus any partial sequence the decoder holds, so
    // one call always consumes everything.
    let room = decoder
        .max_utf8_buffer_length(input.len())
        .unwrap_or(input.len() * 3 + 16);
    let mut decoded = String::with_capacity(room);
    let _ = decoder.decode_to_string(input, &mut decoded, last);
    decoded
}

/// Size of the raw read buffer: one pipe's worth.
const RAW_BUFFER: usize = 64 * 1024;

/// An [`AsyncRead`] that decodes its inner stream from `encoding` into UTF-8.
///
/// A byte order mark of the encoding itself is removed. Malformed input becomes
/// U+FFFD; a sequence cut off by the end of the stream becomes one U+FFFD.
///
/// ```
/// # tokio_test_shim::block_on(async {
/// use exec_core::decode::{encoding_for_label, DecodingReader};
/// use tokio::io::AsyncReadExt;
///
/// let euc_kr: &[u8] = &[0xc7, 0xd1, 0xb1, 0xdb]; // "한글"
/// let mut reader = DecodingReader::new(euc_kr, encoding_for_label("cp949")?);
/// let mut text = String::new();
/// reader.read_to_string(&mut text).await?;
/// assert_eq!(text, "한글");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # mod tokio_test_shim {
/// #     pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #         tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// #     }
/// # }
/// ```
pub struct DecodingReader<R> {
    inner: R,
    decoder: Decoder,
    raw: Box<[u8]>,
    decoded: String,
    position: usize,
    finished: bool,
}

impl<R> DecodingReader<R> {
    /// Wraps `inner`, whose bytes are in `encoding`.
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            raw: vec![0; RAW_BUFFER].into_boxed_slice(),
            decoded: String::new(),
            position: 0,
            finished: false,
        }
    }

    /// The encoding being decoded.
    pub fn encoding(&self) -> &'static Encoding {
        self.decoder.encoding()
    }
}

impl<R> fmt::Debug for DecodingReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodingReader")
            .field("encoding", &self.decoder.encoding().name())
            .field("buffered", &(self.decoded.len() - self.position))
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for DecodingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.position < this.decoded.len() {
                let pending = &this.decoded.as_bytes()[this.position..];
                let n = pending.len().min(buf.remaining());
                buf.put_slice(&pending[..n]);
                this.position += n;
                return Poll::Ready(Ok(()));
            }
            if this.finished || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut raw = ReadBuf::new(&mut this.raw);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            let input = raw.filled();
            let last = input.is_empty();
            this.decoded = decode_chunk(&mut this.decoder, input, last);
            this.position = 0;
            this.finished = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncReadExt;

    /// Hands out the input in the given chunk sizes, to split characters anywhere.
    struct Chunked {
        data: Vec<u8>,
        cuts: Vec<usize>,
    }

    impl AsyncRead for Chunked {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let want = this.cuts.pop().unwrap_or(usize::MAX).max(1);
            let n = want.min(this.data.len()).min(buf.remaining());
            buf.put_slice(&this.data[..n]);
            this.data.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    fn decode_chunked(data: &[u8], cuts: Vec<usize>, label: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let inner = Chunked {
                data: data.to_vec(),
                cuts,
            };
            let mut reader = DecodingReader::new(inner, encoding_for_label(label).unwrap());
            let mut out = String::new();
            reader.read_to_string(&mut out).await.unwrap();
            out
        })
    }

    #[test]
    fn legacy_labels_map_to_encodings() {
        for (label, name) in [
            ("cp949", "EUC-KR"),
            (" UHC ", "EUC-KR"),
            ("euc-kr", "EUC-KR"),
            ("shift_jis", "Shift_JIS"),
            ("cp932", "Shift_JIS"),
            ("gbk", "GBK"),
            ("windows-1252", "windows-1252"),
            ("cp1252", "windows-1252"),
            ("utf-8", "UTF-8"),
        ] {
            assert_eq!(encoding_for_label(label).unwrap().name(), name, "{label}");
        }
        let err = encoding_for_label("cp99999").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        assert!(err.to_string().contains("\"cp99999\""), "{err}");
    }

    #[test]
    fn labels_of_the_replacement_encoding_are_refused() {
        // What encoding_rs would do with them: the whole stream becomes one U+FFFD.
        let (decoded, _) = encoding_rs::REPLACEMENT.decode_without_bom_handling(b"plain ascii");
        assert_eq!(decoded, "\u{fffd}");
        for label in [
            "iso-2022-kr",
            "csiso2022kr",
            "hz-gb-2312",
            "iso-2022-cn",
            "iso-2022-cn-ext",
            "replacement",
            " ISO-2022-KR ",
        ] {
            let err = encoding_for_label(label).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{label}");
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid output_encoding: encoding {label:?} cannot be decoded: WHATWG maps it to \
                     the \"replacement\" encoding, which turns all output into a single U+FFFD"
                ),
            );
        }
        // x-user-defined loses nothing (each byte maps to its own character): kept.
        assert_eq!(
            encoding_for_label("x-user-defined").unwrap().name(),
            "x-user-defined"
        );
        // Neither does ISO-2022-JP, a real decoder despite the family name.
        assert_eq!(
            encoding_for_label("iso-2022-jp").unwrap().name(),
            "ISO-2022-JP"
        );
    }

    #[test]
    fn known_texts_decode() {
        let korean = [0xc7, 0xd1, 0xb1, 0xdb, b'\n'];
        assert_eq!(
            decode_chunked(&korean, vec![1, 1, 1, 1, 1], "cp949"),
            "한글\n"
        );
        let japanese = [0x93, 0xfa, 0x96, 0x7b]; // 日本
        assert_eq!(decode_chunked(&japanese, vec![3, 1], "shift_jis"), "日本");
        assert_eq!(decode_chunked(&[0x80, b'!'], vec![], "windows-1252"), "€!");
        // A character cut off by the end of the stream is one replacement character.
        assert_eq!(decode_chunked(&[b'a', 0xc7], vec![], "cp949"), "a\u{fffd}");
    }

    proptest! {
        /// However the input is cut into reads, the decoded text is the same.
        #[test]
        fn any_split_decodes_the_same(
            text in "[a-z가-힣\n ]{0,40}",
            cuts in proptest::collection::vec(1usize..7, 0..40),
        ) {
            let (bytes, _, _) = encoding_rs::EUC_KR.encode(&text);
            prop_assert_eq!(decode_chunked(&bytes, cuts, "cp949"), text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                       cuts in proptest::collection::vec(1usize..5, 0..20)) {
            let whole = decode_chunked(&bytes, vec![], "shift_jis");
            prop_assert_eq!(decode_chunked(&bytes, cuts, "shift_jis"), whole);
        }
    }
}
