//! A minimal HTTP/1.0 endpoint for the counters, on loopback only.
//!
//! It answers `GET /metrics` and nothing else, one short request per
//! connection, at most a few at a time: it is for a local scraper or
//! `cairn-relay status`, not for the network.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Requests served at once; more wait in the kernel's accept queue.
const CONCURRENT: usize = 4;
/// Time a scraper has to send its request and read the answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Longest request read.
const MAX_REQUEST: usize = 1024;

/// Serves `GET /metrics` on `listener` with the text `render` returns, until
/// `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, answer(stream, &*render)).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, render: &(dyn Fn() -> String + Send + Sync)) {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[len..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    let response = if buf[..len].starts_with(b"GET /metrics ") {
        let body = render();
        format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Fetches the metrics text from a running relay's endpoint (blocking).
pub fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let bad = || std::io::Error::other("unexpected answer from the metrics endpoint");
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(bad)?;
    if !head.starts_with("HTTP/1.0 200") {
        return Err(bad());
    }
    Ok(body.to_owned())
}
