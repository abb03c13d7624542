//! One async connection type for plain and TLS streams, with the STARTTLS upgrade.

use postrider_core::machine::TlsInfo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::server::TlsStream;
use futures_rustls::TlsAcceptor;
use smol::net::TcpStream;

/// A client connection, plain or TLS.
#[derive(Debug)]
pub enum AsyncConn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncConn {
    /// Runs a server-side TLS handshake over a plain connection (STARTTLS or implicit TLS).
    pub async fn start_tls(
        self,
        acceptor: TlsAcceptor,
        timeout: std::time::Duration,
    ) -> io::Result<(AsyncConn, TlsInfo)> {
        let tcp = match self {
            AsyncConn::Plain(t) => t,
            AsyncConn::Tls(_) => return Err(io::Error::other("TLS already active")),
        };
        let handshake = acceptor.accept(tcp);
        let timeout = async {
            async_io::Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        };
        let stream = futures_lite::future::or(handshake, timeout).await?;
        let info = postrider_agents::tls::session_info(stream.get_ref().1);
        Ok((AsyncConn::Tls(Box::new(stream)), info))
    }
}

impl AsyncRead for AsyncConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncConn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            AsyncConn::Tls(s) => match Pin::new(s.as_mut()).poll_read(cx, buf) {
                // A peer that closes without close_notify has still closed.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(0))
                }
                other => other,
            },
        }
    }
}

impl AsyncWrite for AsyncConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AsyncConn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            AsyncConn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncConn::Plain(s) => Pin::new(s).poll_flush(cx),
            AsyncConn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AsyncConn::Plain(s) => Pin::new(s).poll_close(cx),
            AsyncConn::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}
