//! A stand-in for harbor-broker, for the answers a real broker never sends: a 201 whose body is
//! not the contract's, a redirect (and, as an HTTP proxy, proof that a token was never sent).
//! Everything a real broker can answer is tested against the real one (tests/broker_e2e.rs).
//! Plain HTTP on 127.0.0.1 that answers every request as its [`Mode`] says and records it
//! (method, path, headers, body), as xh's tests record theirs: the jobs' `/v1/credentials` and
//! the kubelet provider's `POST /v1/kubernetes/credentials` alike (tests/kubelet.rs). It never listens beyond
//! loopback, and its threads end with the handle.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the stand-in answers every request.
#[derive(Clone, Debug)]
pub enum Mode {
    /// This status and body (JSON unless `json` is false).
    Fixed {
        status: u16,
        body: String,
        json: bool,
    },
    /// A 302 to another host.
    Redirect,
}

struct State {
    mode: Mode,
    requests: Vec<Request>,
}

/// The running stand-in; dropping it stops it.
pub struct FakeBroker {
    /// `http://127.0.0.1:PORT`, a URL the helper accepts for a loopback broker.
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FakeBroker {
    /// A stand-in answering as `mode` says.
    pub fn start(mode: Mode) -> FakeBroker {
        let state = State {
            mode,
            requests: Vec::new(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve(conn, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeBroker { url, state, stop }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some(request) = read_request(&conn) else {
        return;
    };
    let mut s = state.lock().unwrap();
    s.requests.push(request.clone());
    let (status, extra, body) = answer(&s);
    drop(s);
    let reason = match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        _ => "Status",
    };
    let mut w = &conn;
    let _ = write!(
        w,
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = w.flush();
}

fn read_request(conn: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 16)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn answer(s: &State) -> (u16, String, String) {
    match &s.mode {
        Mode::Fixed { status, body, json } => {
            let kind = if *json {
                "application/json"
            } else {
                "text/html"
            };
            (*status, format!("Content-Type: {kind}\r\n"), body.clone())
        }
        Mode::Redirect => (
            302,
            "Location: https://elsewhere.example/v1/credentials\r\n".into(),
            String::new(),
        ),
    }
}
