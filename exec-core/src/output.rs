//! Everything a finished command produced: what [`Process::output`] returns.
//!
//! [`Process::output`]: crate::Process::output

use crate::error::Result;
use crate::pipes::OutputReader;
use crate::process::Process;
use crate::status::ExitStatus;
use std::fmt;

/// How a command ended and everything it wrote, like `std::process::Output`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// All of stdout (decoded, if an output encoding is set).
    pub stdout: Vec<u8>,
    /// All of stderr (decoded, if an output encoding is set).
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text; invalid UTF-8 becomes U+FFFD.
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text; invalid UTF-8 becomes U+FFFD.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("status", &self.status)
            .field("stdout", &self.stdout_lossy())
            .field("stderr", &self.stderr_lossy())
            .finish()
    }
}

async fn read_to_end(stream: Option<OutputReader>) -> std::io::Result<Vec<u8>> {
    match stream {
        Some(mut stream) => stream.read_to_vec().await,
        None => Ok(Vec::new()),
    }
}

/// The body of [`Process::output`](crate::Process::output).
pub(crate) async fn collect<P: Process + ?Sized>(process: &P) -> Result<Output> {
    // Nothing will be written: the command reads EOF, as tokio's `output()` gives it
    // a null stdin. A stdin taken earlier is its taker's to close.
    let _ = process.close_stdin().await;
    let stdout = process.take_stdout();
    let stderr = process.take_stderr();
    process.start().await?;
    let (stdout, stderr) = tokio::join!(read_to_end(stdout), read_to_end(stderr));
    let status = process.wait().await?;
    Ok(Output {
        status,
        stdout: stdout.map_err(|e| crate::Error::io("read stdout", e))?,
        stderr: stderr.map_err(|e| crate::Error::io("read stderr", e))?,
    })
}
