//! A process's pipes, the same on every backend.
//!
//! Each stream is created with the process and so is available before `start`:
//!
//! - stdin: what the user writes (through [`Pipes::write_stdin`] or the writer
//!   from [`Pipes::take_stdin`]) the backend forwards to the child; closing it
//!   (`close_stdin`, `shutdown`, or dropping the writer) is EOF for the child.
//! - stdout / stderr: the backend hands over the pieces it read from the child
//!   ([`OutputSink::send`]) and the user reads them from an [`OutputReader`] —
//!   the same buffers, not a copy ([`OutputReader::read_chunk`] gives them out
//!   as they are), decoded when an output encoding is set. Up to the output
//!   buffer (1 MiB by default) of unread output is held per stream, so `wait`
//!   before reading loses nothing; past it the backend stops reading and the
//!   child blocks on a full pipe, as with any pipe, and memory stays bounded.
//!   A stream the user dropped is drained and discarded so the child never
//!   blocks on it. A stream the backend lost before its end (a daemon's
//!   connection that broke) ends with the error the backend gave
//!   ([`OutputSink::cut`]) instead of EOF, so a reader never takes cut output
//!   for all of it.

use crate::decode::{OutputEncoding, decode_chunk};
use crate::error::{Error, Result};
use encoding_rs::Decoder;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::{Mutex, Semaphore, mpsc};

/// The writer end of a process's stdin.
pub type StdinWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// Buffer of the stdin pipe: writes wait when the child has not read this much.
const STDIN_BUFFER: usize = 64 * 1024;

/// The size of the pieces [`OutputSink::pump`] reads: what a pipe holds by default.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

enum StdinSlot {
    Open(DuplexStream),
    Taken,
    Closed,
}

/// The user's side of a process's pipes: stdin to write, stdout and stderr to
/// read. Backends hold one and hand it out through
/// [`Process::pipes`](crate::Process::pipes).
pub struct Pipes {
    stdin: Mutex<StdinSlot>,
    stdout: SyncMutex<Option<OutputReader>>,
    stderr: SyncMutex<Option<OutputReader>>,
}

/// The backend's side of a process's pipes.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackendPipes {
    /// What the user writes; EOF when the user closed stdin.
    pub stdin: DuplexStream,
    /// Where the child's stdout goes (see [`OutputSink`]).
    pub stdout: OutputSink,
    /// Where the child's stderr goes (see [`OutputSink`]).
    pub stderr: OutputSink,
}

impl Pipes {
    /// A new set of pipes: `encoding` decodes the outputs, `output_buffer` bytes
    /// of unread output are held per stream.
    pub fn new(
        encoding: Option<&'static OutputEncoding>,
        output_buffer: usize,
    ) -> (Self, BackendPipes) {
        let (user_stdin, backend_stdin) = tokio::io::duplex(STDIN_BUFFER);
        let (stdout_sink, stdout) = output_pipe(encoding, output_buffer);
        let (stderr_sink, stderr) = output_pipe(encoding, output_buffer);
        let user = Self {
            stdin: Mutex::new(StdinSlot::Open(user_stdin)),
            stdout: SyncMutex::new(Some(stdout)),
            stderr: SyncMutex::new(Some(stderr)),
        };
        let backend = BackendPipes {
            stdin: backend_stdin,
            stdout: stdout_sink,
            stderr: stderr_sink,
        };
        (user, backend)
    }

    /// Takes the writer of stdin, once. Writing and closing then go through it;
    /// dropping or shutting it down is EOF for the child.
    pub fn take_stdin(&self) -> Option<StdinWriter> {
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
    pub fn take_stdout(&self) -> Option<OutputReader> {
        take(&self.stdout)
    }

    /// Takes the reader of stderr, once.
    pub fn take_stderr(&self) -> Option<OutputReader> {
        take(&self.stderr)
    }

    /// Writes all of `data` to stdin, waiting while the child does not read.
    /// An empty write does nothing (it is not EOF; see [`Pipes::close_stdin`]).
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

fn take(slot: &SyncMutex<Option<OutputReader>>) -> Option<OutputReader> {
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

impl fmt::Debug for Pipes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stdin = match self.stdin.try_lock().as_deref() {
            Ok(StdinSlot::Open(_)) => "open",
            Ok(StdinSlot::Taken) => "taken",
            Ok(StdinSlot::Closed) => "closed",
            Err(_) => "busy",
        };
        let taken = |slot: &SyncMutex<Option<OutputReader>>| match slot.lock() {
            Ok(guard) if guard.is_some() => "available",
            _ => "taken",
        };
        f.debug_struct("Pipes")
            .field("stdin", &stdin)
            .field("stdout", &taken(&self.stdout))
            .field("stderr", &taken(&self.stderr))
            .finish()
    }
}

/// Buffers the reader gives back for the sink to read into again, so a stream
/// of pieces does not allocate (and fault in) fresh memory for each.
#[derive(Debug, Default)]
struct BufferPool(SyncMutex<Vec<Vec<u8>>>);

/// How many spare buffers a pool keeps.
const POOL_SIZE: usize = 4;

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        let spare = match self.0.lock() {
            Ok(mut pool) => pool.pop(),
            Err(_) => None,
        };
        spare.unwrap_or_else(|| Vec::with_capacity(READ_CHUNK))
    }

    fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() != READ_CHUNK {
            return;
        }
        buffer.clear();
        if let Ok(mut pool) = self.0.lock() {
            if pool.len() < POOL_SIZE {
                pool.push(buffer);
            }
        }
    }
}

/// One output stream: the sink a backend fills and the reader a user drains,
/// joined by a channel of the pieces read and a budget of `capacity` bytes.
fn output_pipe(
    encoding: Option<&'static OutputEncoding>,
    capacity: usize,
) -> (OutputSink, OutputReader) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let budget = Arc::new(Semaphore::new(capacity));
    let pool = Arc::new(BufferPool::default());
    let cut = Arc::new(SyncMutex::new(None));
    let sink = OutputSink {
        sender: Some(sender),
        budget: budget.clone(),
        capacity,
        written: 0,
        pool: pool.clone(),
        cut: cut.clone(),
    };
    let reader = OutputReader {
        receiver,
        budget,
        pool,
        capacity,
        current: Vec::new(),
        position: 0,
        decoder: encoding.map(OutputEncoding::new_decoder_with_bom_removal),
        ended: false,
        cut,
    };
    (sink, reader)
}

/// The budget a piece of `len` bytes takes: never more than the whole budget,
/// so one large piece cannot wait forever.
fn permits(len: usize, capacity: usize) -> u32 {
    u32::try_from(len.min(capacity)).unwrap_or(u32::MAX)
}

/// Where a backend puts one of the child's output streams.
///
/// [`send`](OutputSink::send) waits while the user has `capacity` bytes unread
/// (that is the back-pressure that keeps memory bounded). When the user has
/// dropped the reader, sends succeed at once and the bytes are discarded, so
/// the child is never blocked by a reader that went away.
#[derive(Debug)]
pub struct OutputSink {
    sender: Option<mpsc::UnboundedSender<Vec<u8>>>,
    budget: Arc<Semaphore>,
    capacity: usize,
    written: u64,
    pool: Arc<BufferPool>,
    /// Set by [`cut`](OutputSink::cut): what the reader gets instead of EOF.
    cut: Arc<SyncMutex<Option<io::Error>>>,
}

impl OutputSink {
    /// Hands `chunk` to the user as it is (no copy), or discards it if the user
    /// dropped the reader. Waits while the user's buffer is full.
    pub async fn send(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        let len = chunk.len() as u64;
        let Some(sender) = &self.sender else {
            self.written += len;
            return;
        };
        let delivered = match self
            .budget
            .acquire_many(permits(chunk.len(), self.capacity))
            .await
        {
            Ok(permit) => {
                // Given back by the reader when it takes the chunk.
                permit.forget();
                sender.send(chunk).is_ok()
            }
            // The reader closed the budget: it is gone.
            Err(_) => false,
        };
        // Counted once handed over (or discarded): a send cancelled while it
        // waited for room delivered nothing.
        self.written += len;
        if !delivered {
            self.sender = None;
        }
    }

    /// Forwards a copy of `data` (see [`send`](OutputSink::send)).
    pub async fn write(&mut self, data: &[u8]) {
        self.send(data.to_vec()).await;
    }

    /// Ends the stream with `error` instead of EOF: the user reads all that
    /// was sent, then `error` (from every read after it too). For a backend
    /// whose connection broke before the stream's end, so that the user does
    /// not take cut output for all of it; `error` says what was cut and why
    /// (the daemon, the stream).
    pub fn cut(self, error: io::Error) {
        if self.sender.is_some() {
            *lock_cut(&self.cut) = Some(error);
        }
    }

    /// Reads `source` to the end in pieces of up to 64 KiB and
    /// sends each (no copy); returns the byte count. The user's stream ends
    /// with EOF when `source` ends.
    ///
    /// # Errors
    ///
    /// A read error of `source`; the user's stream then ends with that error
    /// (see [`cut`](OutputSink::cut)).
    pub async fn pump<R: AsyncRead + Unpin>(mut self, mut source: R) -> io::Result<u64> {
        loop {
            let mut chunk = self.pool.take();
            let read = match source.read_buf(&mut chunk).await {
                Ok(read) => read,
                Err(error) => {
                    self.cut(io::Error::new(error.kind(), error.to_string()));
                    return Err(error);
                }
            };
            if read == 0 {
                return Ok(self.written);
            }
            // The budget counts bytes: a short read keeps only what it holds,
            // or a byte-at-a-time writer would queue 64 KiB per byte.
            if read < READ_CHUNK / 8 {
                let exact = chunk.clone();
                self.pool.give(chunk);
                chunk = exact;
            }
            self.send(chunk).await;
        }
    }

    /// How many bytes the backend has delivered so far (kept or discarded).
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// The reader of a process's stdout or stderr.
///
/// It is an [`AsyncRead`]; [`read_chunk`](OutputReader::read_chunk) gives the
/// pieces the backend read without copying them, which is the fast way to
/// move output on (the Lua module reads this way).
pub struct OutputReader {
    receiver: mpsc::UnboundedReceiver<Vec<u8>>,
    budget: Arc<Semaphore>,
    pool: Arc<BufferPool>,
    capacity: usize,
    current: Vec<u8>,
    position: usize,
    decoder: Option<Decoder>,
    ended: bool,
    /// The backend's error if it cut the stream (see [`OutputSink::cut`]).
    cut: Arc<SyncMutex<Option<io::Error>>>,
}

fn lock_cut(cut: &SyncMutex<Option<io::Error>>) -> std::sync::MutexGuard<'_, Option<io::Error>> {
    cut.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OutputReader {
    /// The next piece of output of at most `max` bytes (at least 1), or `None`
    /// at the end of the stream. A piece the backend read whole is handed
    /// over as it is, without a copy. Waits for output.
    ///
    /// # Errors
    ///
    /// At the end of a stream the backend cut (a daemon's connection broke
    /// before the stream's end): the backend's error, which names what was
    /// cut, instead of `None`.
    pub async fn read_chunk(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx, max)).await
    }

    /// Gives a piece from [`read_chunk`](OutputReader::read_chunk) back once
    /// its bytes were used, so the backend reads into it again instead of
    /// allocating. Optional: a piece not given back is simply freed.
    pub fn recycle(&self, chunk: Vec<u8>) {
        self.pool.give(chunk);
    }

    /// Reads to the end of the stream.
    ///
    /// # Errors
    ///
    /// As [`read_chunk`](OutputReader::read_chunk).
    pub async fn read_to_vec(&mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(chunk) = self.read_chunk(usize::MAX).await? {
            if all.is_empty() {
                all.reserve(chunk.len().max(4 * READ_CHUNK));
            }
            all.extend_from_slice(&chunk);
            self.recycle(chunk);
        }
        Ok(all)
    }

    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<Option<Vec<u8>>>> {
        let max = max.max(1);
        if self.position >= self.current.len() && !ready!(self.poll_fill(cx))? {
            return Poll::Ready(Ok(None));
        }
        let pending = self.current.len() - self.position;
        if self.position == 0 && pending <= max {
            return Poll::Ready(Ok(Some(std::mem::take(&mut self.current))));
        }
        let n = pending.min(max);
        let piece = self.current[self.position..self.position + n].to_vec();
        self.consume(n);
        Poll::Ready(Ok(Some(piece)))
    }

    /// Marks `n` bytes of `current` read; a buffer read to its end goes back
    /// to the pool.
    fn consume(&mut self, n: usize) {
        self.position += n;
        if self.position >= self.current.len() {
            self.pool.give(std::mem::take(&mut self.current));
            self.position = 0;
        }
    }

    /// Makes `current` hold unread bytes; `false` at the end of the stream,
    /// the backend's error at the end of a stream it cut.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            if self.ended {
                let mut cut = lock_cut(&self.cut);
                return Poll::Ready(match cut.take() {
                    // Every read from now on fails the same way.
                    Some(error) => {
                        *cut = Some(io::Error::new(error.kind(), error.to_string()));
                        Err(error)
                    }
                    None => Ok(false),
                });
            }
            let bytes = match ready!(self.receiver.poll_recv(cx)) {
                Some(raw) => {
                    // What the channel held is ours now: the backend may read on.
                    self.budget
                        .add_permits(permits(raw.len(), self.capacity) as usize);
                    match &mut self.decoder {
                        None => raw,
                        Some(decoder) => decode_chunk(decoder, &raw, false).into_bytes(),
                    }
                }
                None => {
                    self.ended = true;
                    match &mut self.decoder {
                        // A sequence cut off by the end becomes U+FFFD.
                        Some(decoder) => decode_chunk(decoder, &[], true).into_bytes(),
                        None => Vec::new(),
                    }
                }
            };
            if !bytes.is_empty() {
                self.current = bytes;
                self.position = 0;
                return Poll::Ready(Ok(true));
            }
        }
    }
}

impl AsyncRead for OutputReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.position >= this.current.len() && !ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(()));
        }
        let pending = &this.current[this.position..];
        let n = pending.len().min(buf.remaining());
        buf.put_slice(&pending[..n]);
        this.consume(n);
        Poll::Ready(Ok(()))
    }
}

impl Drop for OutputReader {
    fn drop(&mut self) {
        // Wakes a sink waiting for room: it discards from now on.
        self.budget.close();
    }
}

impl fmt::Debug for OutputReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputReader")
            .field("buffered", &(self.current.len() - self.position))
            .field(
                "encoding",
                &self.decoder.as_ref().map(|d| d.encoding().name()),
            )
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::encoding_for_label;

    #[tokio::test]
    async fn whole_pieces_are_handed_over_and_split_when_asked() {
        let (pipes, backend) = Pipes::new(None, 1024 * 1024);
        let mut reader = pipes.take_stdout().unwrap();
        let mut sink = backend.stdout;
        let piece = vec![7u8; 1000];
        let address = piece.as_ptr();
        sink.send(piece).await;
        let got = reader.read_chunk(4096).await.unwrap().unwrap();
        assert_eq!(got.as_ptr(), address, "the backend's buffer, not a copy");
        sink.send(vec![1, 2, 3, 4, 5]).await;
        assert_eq!(reader.read_chunk(2).await.unwrap().unwrap(), [1, 2]);
        assert_eq!(reader.read_chunk(10).await.unwrap().unwrap(), [3, 4, 5]);
        drop(sink);
        assert_eq!(reader.read_chunk(10).await.unwrap(), None);
        assert_eq!(reader.read_chunk(10).await.unwrap(), None);
    }

    /// A writer of one byte at a time: each unread piece holds about what
    /// it carries, not a 64 KiB buffer (the budget counts bytes).
    #[tokio::test]
    async fn short_reads_do_not_hold_whole_buffers() {
        let (pipes, backend) = Pipes::new(None, 1024 * 1024);
        let mut reader = pipes.take_stdout().unwrap();
        let (mut writer, source) = tokio::io::duplex(16);
        let pump = tokio::spawn(backend.stdout.pump(source));
        for _ in 0..100 {
            writer.write_all(b"x").await.unwrap();
            writer.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        drop(writer);
        assert_eq!(pump.await.unwrap().unwrap(), 100);
        let mut total = 0;
        while let Some(chunk) = reader.read_chunk(READ_CHUNK).await.unwrap() {
            assert!(
                chunk.capacity() < READ_CHUNK / 8,
                "{} bytes held",
                chunk.capacity()
            );
            total += chunk.len();
        }
        assert_eq!(total, 100);
    }

    #[tokio::test]
    async fn the_budget_bounds_unread_output_and_a_dropped_reader_frees_the_sink() {
        let (pipes, backend) = Pipes::new(None, 8192);
        let reader = pipes.take_stdout().unwrap();
        let mut sink = backend.stdout;
        sink.send(vec![0; 8192]).await;
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), sink.send(vec![0; 1])).await;
        assert!(blocked.is_err(), "a full buffer makes the sink wait");
        drop(reader);
        sink.send(vec![0; 100_000]).await;
        assert_eq!(sink.written(), 8192 + 100_000);
    }

    #[tokio::test]
    async fn a_piece_larger_than_the_budget_does_not_wait_forever() {
        let (pipes, backend) = Pipes::new(None, 4096);
        let mut reader = pipes.take_stdout().unwrap();
        let mut sink = backend.stdout;
        let writer = tokio::spawn(async move {
            sink.send(vec![1; 100_000]).await;
            sink.send(vec![2; 100_000]).await;
        });
        let mut got = Vec::new();
        while let Some(chunk) = reader.read_chunk(usize::MAX).await.unwrap() {
            got.extend(chunk);
        }
        writer.await.unwrap();
        assert_eq!(got.len(), 200_000);
    }

    #[tokio::test]
    async fn a_cut_stream_ends_with_the_backends_error_after_all_it_sent() {
        let encoding = encoding_for_label("cp949").unwrap();
        let (pipes, backend) = Pipes::new(Some(encoding), 1024 * 1024);
        let mut reader = pipes.take_stdout().unwrap();
        let mut sink = backend.stdout;
        sink.send(b"kept ".to_vec()).await;
        // Half a character: decoded as U+FFFD before the error.
        sink.send(vec![0xc7]).await;
        sink.cut(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "stdout was cut: the daemon went away",
        ));
        assert_eq!(reader.read_chunk(100).await.unwrap().unwrap(), b"kept ");
        assert_eq!(
            reader.read_chunk(100).await.unwrap().unwrap(),
            "\u{fffd}".as_bytes()
        );
        for _ in 0..2 {
            let error = reader.read_chunk(100).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
            assert!(error.to_string().contains("was cut"), "{error}");
        }
        let mut all = Vec::new();
        let error = reader.read_to_end(&mut all).await.unwrap_err();
        assert!(error.to_string().contains("was cut"), "{error}");
    }

    /// A source that fails mid-stream: its error reaches the reader.
    #[tokio::test]
    async fn a_read_error_of_the_pumped_source_reaches_the_reader() {
        let (pipes, backend) = Pipes::new(None, 1024 * 1024);
        let mut reader = pipes.take_stdout().unwrap();
        let source = before_then_reset();
        let pumped = backend.stdout.pump(source).await;
        assert_eq!(pumped.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
        let mut all = Vec::new();
        let error = reader.read_to_end(&mut all).await.unwrap_err();
        assert_eq!(all, b"before");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    /// Reads `before`, then fails with a reset connection.
    fn before_then_reset() -> impl AsyncRead + Unpin {
        let data: &'static [u8] = b"before";
        data.chain(Failing)
    }

    struct Failing;

    impl AsyncRead for Failing {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")))
        }
    }

    #[tokio::test]
    async fn decoding_is_right_across_pieces() {
        let encoding = encoding_for_label("cp949").unwrap();
        let (pipes, backend) = Pipes::new(Some(encoding), 1024 * 1024);
        let mut reader = pipes.take_stdout().unwrap();
        let mut sink = backend.stdout;
        for byte in [0xc7u8, 0xd1, 0xb1, 0xdb, 0xc7] {
            sink.send(vec![byte]).await;
        }
        drop(sink);
        let text = String::from_utf8(reader.read_to_vec().await.unwrap()).unwrap();
        assert_eq!(text, "한글\u{fffd}");
    }
}
