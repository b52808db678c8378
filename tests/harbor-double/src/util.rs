//! Small helpers the handlers share: the clock and Harbor's time formats, randomness (ids,
//! secrets, shuffles), URL query decoding and base64url. No HTTP and no Harbor rules here.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

pub(crate) fn now_unix() -> i64 {
    now_millis() / 1000
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `2025-01-02T03:04:05Z`: the token service's `issued_at` (Go's time.RFC3339 in UTC).
pub(crate) fn rfc3339(secs: i64) -> String {
    let (date, time) = civil(secs);
    format!("{date}T{time}Z")
}

/// `2025-01-02T03:04:05.678Z`: go-swagger's strfmt.DateTime, used by the API's `*_time` fields.
pub(crate) fn rfc3339_millis(millis: i64) -> String {
    let (date, time) = civil(millis.div_euclid(1000));
    format!("{date}T{time}.{:03}Z", millis.rem_euclid(1000))
}

/// Splits Unix seconds into `YYYY-MM-DD` and `HH:MM:SS` (UTC), by Howard Hinnant's
/// days-to-civil algorithm, so that no date crate with formatting features is needed.
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut out)
        .unwrap_or_else(|_| panic!("harbor-double: the system random source failed"));
    out
}

/// `n` characters drawn uniformly from `charset` (rejection sampling, so no modulo bias).
pub(crate) fn random_string(charset: &[u8], n: usize) -> String {
    let limit = 256 - 256 % charset.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes(n * 2) {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(charset[usize::from(b) % charset.len()]));
            }
        }
    }
    out
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// GitLab's masked-variable alphabet: fixture passwords use all of it, so that tests meet the
/// characters (`/`, `:`, `@`, `+`, `=`, `~`) that break naive quoting and URL building.
pub(crate) const MASKABLE: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=/@:.~-";

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random version-4 UUID, as Harbor generates for a missing X-Request-Id.
pub(crate) fn uuid_v4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Fisher–Yates with the system random source: token actions come from a Go map in Harbor, so their
/// order is random, and the double makes sure clients cannot rely on it
/// (docs/harbor-api.md#the-token-service).
pub(crate) fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let r = random_bytes(4);
        let n = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize;
        items.swap(i, n % (i + 1));
    }
}

pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

#[cfg(test)]
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a query string the way Go's `url.ParseQuery` does: `&`-separated pairs, `+` is a
/// space, `%XX` escapes; pairs in order, repeated keys kept.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hi = char::from(bytes[i + 1]).to_digit(16);
                let lo = char::from(bytes[i + 2]).to_digit(16);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes a query value for a Link header (RFC 3986 unreserved characters stay as they are).
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first value of `key` in decoded query pairs.
pub(crate) fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_as_harbor_formats_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_787_045), "2025-01-02T03:04:05Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_millis(1_735_787_045_678),
            "2025-01-02T03:04:05.678Z"
        );
    }

    #[test]
    fn queries_decode_like_go_url_parse_query() {
        let q = parse_query(
            "scope=repository%3Aproj%2Fapp%3Apull%2Cpush&scope=a+b&service=harbor-registry&x",
        );
        assert_eq!(q[0].1, "repository:proj/app:pull,push");
        assert_eq!(q[1].1, "a b");
        assert_eq!(query_get(&q, "service"), Some("harbor-registry"));
        assert_eq!(q[3], ("x".to_owned(), String::new()));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn random_strings_use_only_their_alphabet() {
        let s = random_string(MASKABLE, 200);
        assert_eq!(s.len(), 200);
        assert!(s.bytes().all(|b| MASKABLE.contains(&b)));
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
