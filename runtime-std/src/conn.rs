//! One connection type for plain and TLS streams in the blocking runtime, with the
//! STARTTLS upgrade. Outside the handshake the socket is non-blocking: the driver reads
//! and writes whatever is possible and waits for either with [`Conn::wait`], so it can
//! read while its output waits to be written.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postrider_core::machine::TlsInfo;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustls::{ServerConfig, ServerConnection};

use postrider_agents::tls::session_info;

/// A client connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, driven record by record (rustls' own buffers, no blocking stream).
    Tls(Box<(ServerConnection, TcpStream)>),
}

impl Conn {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(b) => &b.1,
        }
    }

    /// Runs a server-side TLS handshake over a plain connection (STARTTLS or implicit TLS).
    /// The whole handshake must finish within `timeout`, however slowly the client drips
    /// its bytes. The socket is blocking during the handshake and non-blocking after.
    pub fn start_tls(
        self,
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> io::Result<(Conn, TlsInfo)> {
        let mut tcp = match self {
            Conn::Plain(t) => t,
            Conn::Tls(_) => return Err(io::Error::other("TLS already active")),
        };
        tcp.set_nonblocking(false)?;
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        let deadline = Instant::now() + timeout;
        // One read or write at a time (not `complete_io`, which loops until the handshake
        // is done), so the deadline is checked between every two of them.
        while conn.is_handshaking() || conn.wants_write() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            tcp.set_read_timeout(Some(left))?;
            tcp.set_write_timeout(Some(left))?;
            if conn.wants_write() {
                conn.write_tls(&mut tcp)?;
                continue;
            }
            if conn.read_tls(&mut tcp)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed during the TLS handshake",
                ));
            }
            if let Err(e) = conn.process_new_packets() {
                // Send the alert that says why, then give up.
                let _ = conn.write_tls(&mut tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        tcp.set_read_timeout(None)?;
        tcp.set_write_timeout(None)?;
        tcp.set_nonblocking(true)?;
        let info = session_info(&conn);
        Ok((Conn::Tls(Box::new((conn, tcp))), info))
    }

    /// Reads what is there without blocking: `Ok(0)` at the end of the stream, an error
    /// of kind `WouldBlock` when nothing is there yet.
    pub fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (tls, tcp) = match self {
            Conn::Plain(t) => return t.read(buf),
            Conn::Tls(b) => (&mut b.0, &mut b.1),
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                // A peer that closes without close_notify has still closed.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if tls.read_tls(tcp)? == 0 {
                return Ok(0);
            }
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// Writes part of `buf` without blocking; `WouldBlock` when nothing could be taken.
    /// With TLS, the bytes taken may still wait in encrypted records: see
    /// [`Conn::wants_write`] and [`Conn::flush_some`].
    pub fn write_some(&mut self, buf: &[u8]) -> io::Result<usize> {
        let b = match self {
            Conn::Plain(t) => return t.write(buf),
            Conn::Tls(b) => b,
        };
        // Earlier records first: rustls then takes the new bytes whole (its buffer is
        // empty), and a full socket shows as `WouldBlock` before anything is taken.
        flush_tls(b)?;
        let n = b.0.writer().write(buf)?;
        match flush_tls(b) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            other => other.map(|()| n),
        }
    }

    /// Whether decrypted input waits inside the TLS layer (readable without the socket).
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(b) => !b.0.wants_read(),
        }
    }

    /// Whether encrypted records wait to be written.
    pub fn wants_write(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Tls(b) => b.0.wants_write(),
        }
    }

    /// Writes waiting encrypted records without blocking (`WouldBlock` when the socket
    /// is full).
    pub fn flush_some(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(_) => Ok(()),
            Conn::Tls(b) => flush_tls(b),
        }
    }

    /// Waits until the socket is readable (if `read`) or writable (if `write`), or for
    /// `timeout`. Returns (readable, writable); both false on timeout.
    pub fn wait(&self, read: bool, write: bool, timeout: Duration) -> io::Result<(bool, bool)> {
        let mut flags = PollFlags::empty();
        if read {
            flags |= PollFlags::IN;
        }
        if write {
            flags |= PollFlags::OUT;
        }
        let mut fds = [PollFd::new(self.tcp(), flags)];
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok((false, false)),
            Err(e) => return Err(e.into()),
        }
        let got = fds[0].revents();
        // Errors and hang-ups show up on the next read or write.
        let broken = got.intersects(PollFlags::ERR | PollFlags::HUP);
        Ok((
            read && (got.contains(PollFlags::IN) || broken),
            write && (got.contains(PollFlags::OUT) || broken),
        ))
    }
}

/// Writes a TLS connection's waiting records without blocking.
fn flush_tls(b: &mut (ServerConnection, TcpStream)) -> io::Result<()> {
    let (tls, tcp) = (&mut b.0, &mut b.1);
    while tls.wants_write() {
        tls.write_tls(tcp)?;
    }
    Ok(())
}
