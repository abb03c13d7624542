//! One connection type for plain and TLS streams in the blocking runtime, with the
//! STARTTLS upgrade.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use postrider_core::smtp::TlsInfo;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::tls::session_info;

/// A client connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(t) => t,
            Conn::Tls(s) => &s.sock,
        }
    }

    /// Runs a server-side TLS handshake over a plain connection (STARTTLS or implicit TLS).
    /// The whole handshake must finish within `timeout`, however slowly the client drips
    /// its bytes.
    pub fn start_tls(
        self,
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> io::Result<(Conn, TlsInfo)> {
        let mut tcp = match self {
            Conn::Plain(t) => t,
            Conn::Tls(_) => return Err(io::Error::other("TLS already active")),
        };
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
        let info = session_info(&conn);
        Ok((Conn::Tls(Box::new(StreamOwned::new(conn, tcp))), info))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.read(buf),
            Conn::Tls(s) => match s.read(buf) {
                // A peer that closes without close_notify has still closed.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(t) => t.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(t) => t.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}
