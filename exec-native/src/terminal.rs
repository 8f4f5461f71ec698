//! A pseudo-terminal for a host command: the controller side is ours, read
//! and written without blocking; the terminal side becomes the child's
//! stdin, stdout and stderr and its controlling terminal (see `child.rs`:
//! the child starts a session of its own, which also leads a process group,
//! so close and kill reach everything it started as with pipes).
//!
//! Both sides are opened close-on-exec, so no other child (spawned at the same
//! time on another thread) inherits them; the terminal side reaches this
//! child only as its descriptors 0, 1 and 2.

use exec_core::PtySize;
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A new terminal: the controller (ours) and the terminal side (the child's).
pub(crate) struct Terminal {
    pub(crate) controller: Controller,
    pub(crate) terminal: OwnedFd,
    /// Where the terminal side is (`/dev/pts/N`), for a child that opens it.
    pub(crate) path: std::path::PathBuf,
}

impl Terminal {
    /// Opens a terminal of `size`.
    pub(crate) fn open(size: PtySize) -> io::Result<Self> {
        let controller =
            rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        rustix::pty::grantpt(&controller)?;
        rustix::pty::unlockpt(&controller)?;
        let name = rustix::pty::ptsname(&controller, Vec::new())?;
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.as_bytes()));
        let terminal = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        set_size(&controller, size)?;
        let flags = rustix::fs::fcntl_getfl(&controller)?;
        rustix::fs::fcntl_setfl(&controller, flags | OFlags::NONBLOCK)?;
        // SAFETY: an `OwnedFd` is a valid open descriptor, owned here, and
        // stays the same descriptor until the `AsyncFd` drops it.
        #[allow(unsafe_code)]
        let controller = unsafe { AsyncFd::register(controller) }.map_err(io::Error::from)?;
        Ok(Self {
            controller: Controller(Arc::new(controller)),
            terminal,
            path,
        })
    }
}

/// Sets the terminal's size; the kernel sends SIGWINCH to its foreground
/// process group.
pub(crate) fn set_size(controller: &impl AsFd, size: PtySize) -> io::Result<()> {
    rustix::termios::tcsetwinsize(
        controller,
        rustix::termios::Winsize {
            ws_row: size.height(),
            ws_col: size.width(),
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )?;
    Ok(())
}

/// Our side of the terminal: what the command writes is read from it, what
/// the user types is written to it. Clones share the descriptor.
#[derive(Debug, Clone)]
pub(crate) struct Controller(Arc<AsyncFd<OwnedFd>>);

impl Controller {
    /// Changes the terminal's size.
    pub(crate) fn resize(&self, size: PtySize) -> io::Result<()> {
        set_size(self.0.get_ref(), size)
    }
}

impl AsyncRead for Controller {
    /// Reads what the command wrote. Once no process holds the terminal side
    /// any more, Linux answers EIO: that is the end of the output.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| Ok(rustix::io::read(fd, &mut *unfilled)?)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for Controller {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd, data)?)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
