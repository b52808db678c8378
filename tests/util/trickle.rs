//! A plain-HTTP server on 127.0.0.1 that answers every request one byte at a time: a Harbor,
//! or a proxy in front of it, whose answer never arrives in time but never stalls long enough
//! for a per-read timeout either.
//!
//! For the timeout tests only. It must never listen beyond loopback, and its threads end with
//! the connection or when the handle is dropped, so no test leaves a writer behind.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Which part of the answer trickles.
#[derive(Clone, Copy, Debug)]
pub enum Phase {
    /// The status line, then the header lines, a byte at a time: the headers never end.
    Headers,
    /// Complete headers announcing a large JSON body, then the body a byte at a time.
    Body,
}

/// The running server; dropping it stops every writer.
pub struct Trickle {
    /// `http://127.0.0.1:PORT`, a loopback Harbor URL the helper accepts.
    pub url: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Bytes of the announced body: at a byte per pause it would take hours.
const BODY_LEN: usize = 100_000;

impl Trickle {
    /// Starts the server: every request is answered with `phase` trickling, one byte per `pause`.
    pub fn start(phase: Phase, pause: Duration) -> Trickle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (seen, stopped) = (seen.clone(), stopped.clone());
                        std::thread::spawn(move || serve(conn, phase, pause, &seen, &stopped));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Trickle {
            url,
            requests,
            stop,
        }
    }

    /// How many requests it has received (read to the end of their headers).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut conn: TcpStream,
    phase: Phase,
    pause: Duration,
    requests: &AtomicUsize,
    stop: &AtomicBool,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    // The request's headers (the helper sends no body on the calls that meet this server).
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(n) if n > 0 && seen.len() < 64 << 10 => seen.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let (now, slowly) = match phase {
        Phase::Headers => (
            String::new(),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: {}\r\n\r\n{{}}",
                "a".repeat(BODY_LEN)
            ),
        ),
        Phase::Body => (
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {BODY_LEN}\r\n\r\n"
            ),
            " ".repeat(BODY_LEN),
        ),
    };
    if conn.write_all(now.as_bytes()).is_err() {
        return;
    }
    for byte in slowly.as_bytes() {
        std::thread::sleep(pause);
        // A closed connection (the helper gave up) ends the writer.
        if stop.load(Ordering::SeqCst) || conn.write_all(&[*byte]).is_err() {
            return;
        }
    }
}
