//! Response builders in Harbor's shapes: JSON with `application/json; charset=utf-8`, swagger's
//! successful answers with plain `application/json`, the `{"errors":[{"code","message"}]}` error body with 5xx always rewritten to
//! `UNKNOWN`/`internal server error` (docs/harbor-api.md#errors), beego's plain-text answers
//! (docs/harbor-api.md#the-token-service) and nginx's HTML pages
//! (docs/harbor-api.md#faults-and-tls-modes). Headers every core response shares are added by
//! `server`. A 5xx body must never carry detail: clients are meant to report the request id
//! instead.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::{Response, StatusCode, header};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = BoxBody<Bytes, BoxError>;
pub(crate) type Resp = Response<Body>;

pub(crate) const JSON: &str = "application/json; charset=utf-8";

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

pub(crate) fn empty_body() -> Body {
    Empty::<Bytes>::new()
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn with_body(code: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status(code);
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

pub(crate) fn json(code: u16, value: &serde_json::Value) -> Resp {
    with_body(code, JSON, value.to_string())
}

/// A successful answer of Harbor's swagger API: go-swagger's producer writes `application/json`
/// without a charset, unlike errors and the token service (docs/harbor-api.md#errors).
pub(crate) fn api_json(code: u16, value: &serde_json::Value) -> Resp {
    with_body(code, "application/json", value.to_string())
}

/// No body and no Content-Type (a HEAD answer, DELETE's 200, the token service's 401).
pub(crate) fn empty(code: u16) -> Resp {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = status(code);
    resp
}

/// Harbor's error body (docs/harbor-api.md#errors). Any 5xx becomes
/// `UNKNOWN`/`internal server error`, whatever the caller passed, because Harbor keeps the detail
/// for its log.
pub(crate) fn error(code: u16, err_code: &str, message: &str) -> Resp {
    let (err_code, message) = if code >= 500 {
        ("UNKNOWN", "internal server error")
    } else {
        (err_code, message)
    };
    json(
        code,
        &serde_json::json!({"errors": [{"code": err_code, "message": message}]}),
    )
}

pub(crate) fn unauthorized() -> Resp {
    error(401, "UNAUTHORIZED", "unauthorized")
}

pub(crate) fn forbidden() -> Resp {
    error(403, "FORBIDDEN", "forbidden")
}

pub(crate) fn not_found(message: &str) -> Resp {
    error(404, "NOT_FOUND", message)
}

pub(crate) fn bad_request(message: &str) -> Resp {
    error(400, "BAD_REQUEST", message)
}

pub(crate) fn internal() -> Resp {
    error(500, "UNKNOWN", "internal server error")
}

/// beego's plain-text answers (the token service's 400 and 405).
pub(crate) fn text(code: u16, body: &str) -> Resp {
    with_body(code, "text/plain; charset=utf-8", body.to_owned())
}

/// nginx's own page for a status, byte for byte as nginx writes it (CRLF line ends).
pub(crate) fn nginx_page(code: u16) -> Resp {
    let title = match code {
        308 => "308 Permanent Redirect",
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        _ => "500 Internal Server Error",
    };
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = with_body(code, "text/html", body);
    resp.headers_mut()
        .insert(header::SERVER, header::HeaderValue::from_static("nginx"));
    resp
}
