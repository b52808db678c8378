//! A stand-in for harbor-broker, until the end-to-end tests run the real one: plain HTTP on
//! 127.0.0.1 that speaks the broker's contract (docs/broker.md) and records every request
//! (method, path, headers, body), as xh's tests record theirs.
//!
//! Faithful to the contract where the helper can tell: `POST /v1/credentials` with
//! `Authorization: Bearer <the job's token>` and exactly `{"access": "pull"|"push"}` gets
//! `201 {"registry","username","password","expires_at","project"}`; a missing or wrong bearer
//! gets 401 with `WWW-Authenticate: Bearer`; a body that is not the contract's gets 400; a push
//! the policy refuses gets 403; `DELETE /v1/credentials` gets `200 {"deleted": N}`. Every error
//! is `{"error": "…"}` and never echoes the token. The robots it hands out are robots the Harbor
//! double knows (`Harbor::add_robot`), so real clients can push with them. It never listens
//! beyond loopback, and its threads end with the handle.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harbor_double::{Harbor, Robot};

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

/// How the stand-in answers `POST` and `DELETE`.
#[derive(Clone, Debug)]
pub enum Mode {
    /// The contract: robots for the token; push only when `push` is allowed.
    Grant { push: bool },
    /// Every request: this status and body (JSON unless `json` is false).
    Fixed {
        status: u16,
        body: String,
        json: bool,
    },
    /// Every request: a 302 to another host.
    Redirect,
}

struct State {
    mode: Mode,
    token: String,
    registry: String,
    project: String,
    push_robot: Robot,
    pull_robot: Robot,
    expires_at: i64,
    live: u64,
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
    /// A broker for the job holding `token`, handing out robots of `project` on `h`.
    pub fn start(h: &Harbor, project: &str, token: &str) -> FakeBroker {
        let expires_at = unix_now() + 3600;
        let name = |kind: &str| format!("hb-4242-{expires_at}-{kind}");
        let state = State {
            mode: Mode::Grant { push: true },
            token: token.to_owned(),
            registry: h.addr(),
            project: project.to_owned(),
            push_robot: h.add_robot(project, &name("0000push"), &["pull", "push"], 1),
            pull_robot: h.add_robot(project, &name("0000pull"), &["pull"], 1),
            expires_at,
            live: 0,
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

    /// The robot a push grant hands out, and the one a pull grant does.
    pub fn robots(&self) -> (Robot, Robot) {
        let s = self.state.lock().unwrap();
        (s.push_robot.clone(), s.pull_robot.clone())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some(request) = read_request(&conn) else {
        return;
    };
    let mut s = state.lock().unwrap();
    s.requests.push(request.clone());
    let (status, extra, body) = answer(&mut s, &request);
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

const JSON: &str = "Content-Type: application/json\r\n";

fn error(status: u16, why: &str) -> (u16, String, String) {
    let extra = if status == 401 {
        format!("{JSON}WWW-Authenticate: Bearer\r\n")
    } else {
        JSON.to_owned()
    };
    (
        status,
        extra,
        serde_json::json!({ "error": why }).to_string(),
    )
}

fn answer(s: &mut State, r: &Request) -> (u16, String, String) {
    match &s.mode {
        Mode::Fixed { status, body, json } => {
            let extra = if *json {
                JSON
            } else {
                "Content-Type: text/html\r\n"
            };
            return (*status, extra.to_owned(), body.clone());
        }
        Mode::Redirect => {
            return (
                302,
                "Location: https://elsewhere.example/v1/credentials\r\n".into(),
                String::new(),
            );
        }
        Mode::Grant { .. } => {}
    }
    if r.path != "/v1/credentials" {
        return error(404, "no such endpoint");
    }
    if r.header("authorization") != Some(&format!("Bearer {}", s.token)) {
        return error(401, "the id_token failed verification");
    }
    match r.method.as_str() {
        "POST" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                access: String,
            }
            let access = match serde_json::from_str::<Body>(&r.body) {
                Ok(b) if b.access == "pull" || b.access == "push" => b.access,
                _ => return error(400, "the body must be {\"access\": \"pull\"|\"push\"}"),
            };
            let push_allowed = matches!(s.mode, Mode::Grant { push: true });
            if access == "push" && !push_allowed {
                return error(
                    403,
                    "push needs a protected ref: ref \"feature\" is not protected",
                );
            }
            if s.live >= 3 {
                return error(429, "this job already holds 3 live robots");
            }
            s.live += 1;
            let robot = if access == "push" {
                &s.push_robot
            } else {
                &s.pull_robot
            };
            let body = serde_json::json!({
                "registry": s.registry,
                "username": robot.name,
                "password": robot.secret,
                "expires_at": s.expires_at,
                "project": s.project,
            });
            (201, JSON.to_owned(), body.to_string())
        }
        "DELETE" => {
            let n = std::mem::take(&mut s.live);
            (
                200,
                JSON.to_owned(),
                serde_json::json!({ "deleted": n }).to_string(),
            )
        }
        _ => error(405, "method not allowed"),
    }
}
