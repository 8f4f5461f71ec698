//! Entry points for the fuzz targets of `cargo xtask fuzz` (feature
//! `fuzzing`). Not a public API: what they take and give may change at any
//! time.
//!
//! Each feeds bytes a daemon could send to the code that reads them here,
//! as a daemon would send them.

use crate::process::{Seen, Sinks};
use bollard::models::EventMessage;
use bollard::query_parameters::AttachContainerOptions;
use futures_util::StreamExt;
use std::sync::OnceLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One line of the daemon's `/events` stream, as the exit of a container
/// is learnt from it. Returns whether the event says the container died.
pub fn event(json: &[u8]) -> bool {
    let Ok(event) = serde_json::from_slice::<EventMessage>(json) else {
        return false;
    };
    let mut seen = Seen::default();
    let died = seen.observe(event);
    let _ = seen.exit(seen.oom);
    died
}

/// What an attach stream gave the user.
#[derive(Debug)]
pub struct Attached {
    /// What the user read from stdout (everything, in a terminal).
    pub stdout: Vec<u8>,
    /// What the user read from stderr.
    pub stderr: Vec<u8>,
    /// The error the user read instead of EOF, if the stream was cut.
    pub cut: Option<String>,
}

/// `raw` as the bytes of an attach stream after the daemon's `101`, read by
/// bollard from a fake daemon on a unix socket and handed to the user's
/// streams as a container's output is (`tty`: in a terminal).
pub fn attach(raw: &[u8], tty: bool) -> Attached {
    runtime().block_on(attach_async(raw.to_vec(), tty))
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

async fn attach_async(raw: Vec<u8>, tty: bool) -> Attached {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = std::env::temp_dir().join(format!(
        "exec-fuzz-attach-{}-{call}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .unwrap_or_else(|e| panic!("bind {}: {e}", socket.display()));
    let daemon = tokio::spawn(async move {
        let Ok((mut connection, _)) = listener.accept().await else {
            return;
        };
        // The request, up to the end of its headers.
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            match connection.read(&mut byte).await {
                Ok(1) => request.push(byte[0]),
                _ => return,
            }
        }
        let head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                    Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
        let _ = connection.write_all(head.as_bytes()).await;
        let _ = connection.write_all(&raw).await;
        let _ = connection.shutdown().await;
    });
    let docker = bollard::Docker::connect_with_unix(
        &socket.to_string_lossy(),
        5,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap_or_else(|e| panic!("connect to the fake daemon: {e}"));
    let options = AttachContainerOptions {
        stdin: false,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
        detach_keys: None,
    };
    let (pipes, backend) = exec_core::Pipes::new(None, 1 << 20);
    let mut sinks = Sinks {
        stdout: backend.stdout,
        stderr: (!tty).then_some(backend.stderr),
        host: "fuzz".to_owned(),
        container: "fuzz".to_owned(),
    };
    let deliver = async move {
        let why = match docker.attach_container("fuzz", Some(options)).await {
            Ok(attached) => {
                let mut frames = attached.output;
                loop {
                    let delivered = match frames.next().await {
                        Some(Ok(frame)) => sinks.deliver(frame).await,
                        Some(Err(e)) => Err(e.to_string()),
                        None => break None,
                    };
                    if let Err(why) = delivered {
                        break Some(why);
                    }
                }
            }
            Err(e) => Some(e.to_string()),
        };
        match why {
            Some(why) => sinks.cut(&why),
            None => drop(sinks),
        }
    };
    let (stdout, stderr) = (pipes.take_stdout(), pipes.take_stderr());
    let ((), (out, out_error), (err, err_error)) =
        tokio::join!(deliver, read_all(stdout), read_all(stderr));
    let _ = daemon.await;
    let _ = std::fs::remove_file(&socket);
    Attached {
        stdout: out,
        stderr: err,
        cut: out_error.or(err_error),
    }
}

/// Everything `reader` gives, and the error it ends with, if any.
async fn read_all(reader: Option<exec_core::OutputReader>) -> (Vec<u8>, Option<String>) {
    let Some(mut reader) = reader else {
        return (Vec::new(), None);
    };
    let mut bytes = Vec::new();
    loop {
        match reader.read_chunk(usize::MAX).await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (bytes, None),
            Err(e) => return (bytes, Some(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![stream, 0, 0, 0];
        bytes.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn whole_frames_reach_their_streams() {
        let raw = [frame(1, b"out"), frame(2, b"err"), frame(1, b"!")].concat();
        let got = attach(&raw, false);
        assert_eq!(
            (got.stdout.as_slice(), got.stderr.as_slice()),
            (&b"out!"[..], &b"err"[..])
        );
        assert_eq!(got.cut, None);
    }

    /// bollard hands the bytes of a frame cut short out as `Console`
    /// output at the end of the stream: they were taken as the last of
    /// stdout, and the stream as complete.
    #[test]
    fn a_frame_cut_short_is_a_cut_stream_not_output() {
        let mut raw = frame(1, b"whole");
        raw.extend_from_slice(&frame(1, b"cut short")[..11]);
        let got = attach(&raw, false);
        assert_eq!(got.stdout, b"whole");
        let cut = got.cut.expect("a cut stream");
        assert!(
            cut.contains("was cut") && cut.contains("not a whole frame"),
            "{cut}"
        );

        let half_a_header = [frame(2, b"e"), vec![1, 0, 0]].concat();
        let got = attach(&half_a_header, false);
        assert_eq!(got.stderr, b"e");
        assert!(got.cut.is_some());
    }

    #[test]
    fn a_terminal_stream_is_raw() {
        let got = attach(b"plain \x1b[1mtext", true);
        assert_eq!(got.stdout, b"plain \x1b[1mtext");
        assert_eq!(got.cut, None);
    }

    #[test]
    fn a_die_event_gives_its_code() {
        assert!(event(
            br#"{"Type":"container","Action":"die","Actor":{"ID":"x","Attributes":{"exitCode":"3"}}}"#
        ));
        assert!(!event(br#"{"Action":"oom"}"#));
        assert!(!event(b"not json"));
    }
}
