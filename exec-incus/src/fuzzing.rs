//! Entry points for the fuzz targets of `cargo xtask fuzz` (feature
//! `fuzzing`). Not a public API: what they take and give may change at any
//! time.
//!
//! Each feeds bytes a daemon could send to the code that reads them here.

use crate::client::{envelope, finished_operation};
use crate::process::{ControlMessage, Stream, read_output};
use exec_core::PtySize;
use std::sync::OnceLock;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

/// What the API's answers and events held, as exec-incus reads them.
#[derive(Debug, Default)]
pub struct Answer {
    /// The body was the API's envelope.
    pub envelope: bool,
    /// Its metadata was an operation.
    pub operation: bool,
    /// The operation's exit code (`metadata.return`).
    pub return_code: Option<i64>,
    /// The websocket secrets found, of `0`, `1`, `2`, `control`.
    pub secrets: usize,
    /// The body, read as an event, announced an operation's end.
    pub finished: bool,
}

/// `raw` as the body of an answer (the exec POST's, an operation's) and as
/// one event of `/1.0/events`.
pub fn answer(raw: &[u8]) -> Answer {
    let mut answer = Answer {
        finished: finished_operation(raw).is_some(),
        ..Answer::default()
    };
    let Ok((_, metadata)) = envelope(raw) else {
        return answer;
    };
    answer.envelope = true;
    let Ok(operation) = serde_json::from_value::<crate::client::Operation>(metadata) else {
        return answer;
    };
    answer.operation = true;
    answer.return_code = operation.return_code();
    answer.secrets = ["0", "1", "2", "control"]
        .iter()
        .filter(|fd| operation.fd_secret(fd).is_some())
        .count();
    let _ = operation.is_final();
    answer
}

/// What an output websocket gave the user.
#[derive(Debug)]
pub struct Output {
    /// The bytes the user read.
    pub bytes: Vec<u8>,
    /// The error the user read instead of EOF, if the stream was cut.
    pub cut: Option<String>,
}

/// `raw` as what the daemon sends on an output websocket (frames as they
/// go on the wire), read into the user's stream as a command's stdout is.
pub fn output(raw: &[u8]) -> Output {
    runtime().block_on(async {
        let (mut daemon, client) = tokio::io::duplex(64 * 1024);
        let raw = raw.to_vec();
        let writer = async move {
            let _ = daemon.write_all(&raw).await;
            let _ = daemon.shutdown().await;
            // Held open until the reader is done: a daemon that stops
            // sending without closing is a hang, not what is fuzzed here.
            daemon
        };
        let ws = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (pipes, backend) = exec_core::Pipes::new(None, 1 << 20);
        let stream = Stream {
            name: "stdout",
            instance: "fuzz".to_owned(),
            address: "fuzz".to_owned(),
        };
        let mut reader = pipes.take_stdout();
        let read = async {
            let mut bytes = Vec::new();
            let Some(reader) = reader.as_mut() else {
                return (bytes, None);
            };
            loop {
                match reader.read_chunk(usize::MAX).await {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) => return (bytes, None),
                    Err(e) => return (bytes, Some(e.to_string())),
                }
            }
        };
        let (_daemon, (), (bytes, cut)) =
            tokio::join!(writer, read_output(ws, backend.stdout, stream), read);
        Output { bytes, cut }
    })
}

/// The control messages sent for signal `signal` and a resize to
/// `width`×`height`, as JSON.
pub fn control(signal: i32, width: u16, height: u16) -> [String; 2] {
    [
        ControlMessage::Signal(signal).json(),
        ControlMessage::Resize(PtySize::new(width, height)).json(),
    ]
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime for the fuzz target: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

    /// A server frame (not masked) of `opcode` carrying `payload`.
    fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        let mut bytes = Vec::new();
        Frame::from_payload(header, payload.to_vec().into())
            .format(&mut bytes)
            .unwrap();
        bytes
    }

    #[test]
    fn output_ends_at_the_empty_text_frame_and_is_cut_without_it() {
        let binary = |p: &[u8]| frame(OpCode::Data(Data::Binary), p);
        let end = frame(OpCode::Data(Data::Text), b"");
        let whole = output(&[binary(b"hello "), binary(b"world"), end].concat());
        assert_eq!(
            (whole.bytes.as_slice(), whole.cut),
            (&b"hello world"[..], None)
        );

        let cut = output(&binary(b"hello"));
        assert_eq!(cut.bytes, b"hello");
        assert!(cut.cut.unwrap().contains("was cut"));

        // A frame cut short.
        let short = output(&binary(b"hello world")[..6]);
        assert!(short.cut.unwrap().contains("was cut"));
    }

    #[test]
    fn answers_are_read_as_the_api_shapes_them() {
        let exec = br#"{"type":"async","metadata":{"id":"x","status_code":103,
            "metadata":{"fds":{"0":"a","1":"b","2":"c","control":"d"}}}}"#;
        let got = answer(exec);
        assert!(got.envelope && got.operation && !got.finished);
        assert_eq!(got.secrets, 4);
        let event = br#"{"type":"operation","metadata":{"id":"x","status_code":200,"metadata":{"return":3}}}"#;
        assert!(answer(event).finished);
        assert!(!answer(b"{\"metadata\":").envelope);
        assert_eq!(control(15, 80, 24).len(), 2);
    }
}
