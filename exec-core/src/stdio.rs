//! A process's stdio, the same on every backend.
//!
//! Each stream is an in-memory pipe between the user and the backend, created
//! with the process and so available before `start`:
//!
//! - stdin: what the user writes (through [`Stdio::write_stdin`] or the writer
//!   from [`Stdio::take_stdin`]) the backend forwards to the child; closing it
//!   (`close_stdin`, `shutdown`, or dropping the writer) is EOF for the child.
//! - stdout / stderr: the backend copies the child's output in; the user reads it
//!   from [`Stdio::take_stdout`] / [`Stdio::take_stderr`], decoded when an
//!   output encoding is set. Up to the output buffer (1 MiB by default) of unread
//!   output is held per stream, so `wait` before reading loses nothing; past it
//!   the child blocks on a full pipe, as with any pipe, and memory stays bounded.
//!   A stream the user dropped is drained and discarded so the child never blocks
//!   on it.

use crate::decode::{DecodingReader, OutputEncoding};
use crate::error::{Error, Result};
use std::fmt;
use std::io;
use std::sync::Mutex as SyncMutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::Mutex;

/// The writer end of a process's stdin.
pub type ProcessStdin = Box<dyn AsyncWrite + Send + Unpin>;

/// The reader end of a process's stdout or stderr.
pub type ProcessOutput = Box<dyn AsyncRead + Send + Unpin>;

/// Buffer of the stdin pipe: writes wait when the child has not read this much.
const STDIN_BUFFER: usize = 64 * 1024;

enum StdinSlot {
    Open(DuplexStream),
    Taken,
    Closed,
}

/// The user's side of a process's stdio. Backends hold one and hand it out
/// through [`Process::stdio`](crate::Process::stdio).
pub struct Stdio {
    stdin: Mutex<StdinSlot>,
    stdout: SyncMutex<Option<ProcessOutput>>,
    stderr: SyncMutex<Option<ProcessOutput>>,
}

/// The backend's side of a process's stdio.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackendStdio {
    /// What the user writes; EOF when the user closed stdin.
    pub stdin: DuplexStream,
    /// Where the child's stdout goes (see [`OutputSink`]).
    pub stdout: OutputSink,
    /// Where the child's stderr goes (see [`OutputSink`]).
    pub stderr: OutputSink,
}

impl Stdio {
    /// A new set of pipes: `encoding` decodes the outputs, `output_buffer` bytes
    /// of unread output are held per stream.
    pub fn new(
        encoding: Option<&'static OutputEncoding>,
        output_buffer: usize,
    ) -> (Self, BackendStdio) {
        let (user_stdin, backend_stdin) = tokio::io::duplex(STDIN_BUFFER);
        let (user_stdout, backend_stdout) = tokio::io::duplex(output_buffer);
        let (user_stderr, backend_stderr) = tokio::io::duplex(output_buffer);
        let wrap = |reader: DuplexStream| -> ProcessOutput {
            match encoding {
                Some(encoding) => Box::new(DecodingReader::new(reader, encoding)),
                None => Box::new(reader),
            }
        };
        let user = Self {
            stdin: Mutex::new(StdinSlot::Open(user_stdin)),
            stdout: SyncMutex::new(Some(wrap(user_stdout))),
            stderr: SyncMutex::new(Some(wrap(user_stderr))),
        };
        let backend = BackendStdio {
            stdin: backend_stdin,
            stdout: OutputSink::new(backend_stdout),
            stderr: OutputSink::new(backend_stderr),
        };
        (user, backend)
    }

    /// Takes the writer of stdin, once. Writing and closing then go through it;
    /// dropping or shutting it down is EOF for the child.
    pub fn take_stdin(&self) -> Option<ProcessStdin> {
        let mut slot = self.stdin.try_lock().ok()?;
        match std::mem::replace(&mut *slot, StdinSlot::Taken) {
            StdinSlot::Open(writer) => Some(Box::new(writer)),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Takes the reader of stdout, once.
    pub fn take_stdout(&self) -> Option<ProcessOutput> {
        take(&self.stdout)
    }

    /// Takes the reader of stderr, once.
    pub fn take_stderr(&self) -> Option<ProcessOutput> {
        take(&self.stderr)
    }

    /// Writes all of `data` to stdin, waiting while the child does not read.
    /// An empty write does nothing (it is not EOF; see [`Stdio::close_stdin`]).
    ///
    /// # Errors
    ///
    /// `Invalid` if stdin was taken or closed; `Io` (broken pipe) if the child
    /// no longer reads its stdin.
    pub async fn write_stdin(&self, data: &[u8]) -> Result<()> {
        let mut slot = self.stdin.lock().await;
        match &mut *slot {
            StdinSlot::Open(writer) => writer
                .write_all(data)
                .await
                .map_err(|e| Error::io("write to stdin", broken_pipe_if_closed(e))),
            StdinSlot::Taken => Err(Error::invalid_state(
                "write to stdin",
                "stdin was taken with take_stdin; write through that handle",
            )),
            StdinSlot::Closed => Err(Error::invalid_state("write to stdin", "stdin is closed")),
        }
    }

    /// Closes stdin: the child reads EOF once it has read what was written.
    /// Closing twice is fine.
    ///
    /// # Errors
    ///
    /// `Invalid` if stdin was taken (close that handle instead).
    pub async fn close_stdin(&self) -> Result<()> {
        let mut slot = self.stdin.lock().await;
        match std::mem::replace(&mut *slot, StdinSlot::Closed) {
            StdinSlot::Open(mut writer) => {
                // Shutdown makes EOF even if the reader end is still buffered.
                let _ = writer.shutdown().await;
                Ok(())
            }
            StdinSlot::Closed => Ok(()),
            StdinSlot::Taken => {
                *slot = StdinSlot::Taken;
                Err(Error::invalid_state(
                    "close stdin",
                    "stdin was taken with take_stdin; shut down or drop that handle",
                ))
            }
        }
    }

    /// Drops every handle not taken yet: stdin is closed, untaken output discarded.
    /// Backends call it when the process is closed.
    pub fn release(&self) {
        if let Ok(mut slot) = self.stdin.try_lock() {
            if matches!(*slot, StdinSlot::Open(_)) {
                *slot = StdinSlot::Closed;
            }
        }
        drop(take(&self.stdout));
        drop(take(&self.stderr));
    }
}

fn take(slot: &SyncMutex<Option<ProcessOutput>>) -> Option<ProcessOutput> {
    match slot.lock() {
        Ok(mut guard) => guard.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    }
}

fn broken_pipe_if_closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the process no longer reads its stdin",
        )
    } else {
        e
    }
}

impl fmt::Debug for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stdin = match self.stdin.try_lock().as_deref() {
            Ok(StdinSlot::Open(_)) => "open",
            Ok(StdinSlot::Taken) => "taken",
            Ok(StdinSlot::Closed) => "closed",
            Err(_) => "busy",
        };
        let taken = |slot: &SyncMutex<Option<ProcessOutput>>| match slot.lock() {
            Ok(guard) if guard.is_some() => "available",
            _ => "taken",
        };
        f.debug_struct("Stdio")
            .field("stdin", &stdin)
            .field("stdout", &taken(&self.stdout))
            .field("stderr", &taken(&self.stderr))
            .finish()
    }
}

/// Where a backend writes one of the child's output streams.
///
/// Writes wait while the user's buffer is full (that is the back-pressure that
/// keeps memory bounded). When the user has dropped the reader, writes succeed
/// and the bytes are discarded, so the child is never blocked by a reader that
/// went away.
#[derive(Debug)]
pub struct OutputSink {
    writer: Option<DuplexStream>,
    written: u64,
}

impl OutputSink {
    fn new(writer: DuplexStream) -> Self {
        Self {
            writer: Some(writer),
            written: 0,
        }
    }

    /// Forwards `data` to the user, or discards it if the user dropped the reader.
    pub async fn write(&mut self, data: &[u8]) {
        self.written += data.len() as u64;
        if let Some(writer) = &mut self.writer {
            if writer.write_all(data).await.is_err() {
                self.writer = None;
            }
        }
    }

    /// Copies `source` to the end into this sink and returns the byte count.
    /// Ends the user's stream with EOF when `source` ends.
    ///
    /// # Errors
    ///
    /// A read error of `source`; the user's stream ends with EOF all the same.
    pub async fn pump<R: AsyncRead + Unpin>(mut self, mut source: R) -> io::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = source.read(&mut buf).await?;
            if n == 0 {
                return Ok(self.written);
            }
            self.write(&buf[..n]).await;
        }
    }

    /// How many bytes the backend has delivered so far (kept or discarded).
    pub fn written(&self) -> u64 {
        self.written
    }
}
