//! docs/harbor-api.md#creating-a-robot: what a robot request says: the `RobotCreate`/`Robot` body,
//! read as loosely as Go's JSON decoder reads it, `robotAPI.validate` with Harbor's order and
//! messages, and the `q` query syntax of the robot list. No permission checks here (those are in
//! `access`).

use serde_json::Value;

use crate::model::Permission;
use crate::rbac::{ROBOT_PROJECT_POLICIES, ROBOT_SYSTEM_POLICIES};
use crate::respond::{self, Resp};

/// A `RobotCreate`/`Robot` body, read as loosely as Go's JSON decoder reads it.
pub(crate) struct RobotSpec {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) level: String,
    pub(crate) duration: Option<i64>,
    pub(crate) disable: bool,
    pub(crate) permissions: Vec<Permission>,
}

pub(crate) fn parse_robot_body(body: &[u8]) -> Result<RobotSpec, Resp> {
    let parse_err = |why: String| {
        respond::bad_request(&format!(
            "parsing robot body from \"\" failed, because {why}"
        ))
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| parse_err(e.to_string()))?;
    let text = |v: &Value, field: &str| -> Result<String, Resp> {
        match v.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(parse_err(format!(
                "json: cannot unmarshal into Go struct field .{field} of type string"
            ))),
        }
    };
    let duration = match v.get("duration") {
        None | Some(Value::Null) => None,
        Some(d) => Some(d.as_i64().ok_or_else(|| {
            parse_err("json: cannot unmarshal into Go struct field .duration of type int64".into())
        })?),
    };
    let mut permissions = Vec::new();
    if let Some(list) = v.get("permissions").and_then(Value::as_array) {
        for p in list {
            let access = p
                .get("access")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|a| {
                            let s =
                                |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                            (s("resource"), s("action"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            permissions.push(Permission {
                kind: text(p, "kind")?,
                namespace: text(p, "namespace")?,
                access,
            });
        }
    }
    Ok(RobotSpec {
        name: text(&v, "name")?,
        description: text(&v, "description")?,
        level: text(&v, "level")?,
        duration,
        disable: v.get("disable").and_then(Value::as_bool).unwrap_or(false),
        permissions,
    })
}

/// docs/harbor-api.md#creating-a-robot `robotAPI.validate`, in Harbor's order and with Harbor's
/// messages.
pub(crate) fn validate_robot(
    duration: i64,
    level: &str,
    permissions: &[Permission],
) -> Result<(), Resp> {
    if !(duration == -1 || (duration > 0 && duration < i64::from(i32::MAX))) {
        return Err(respond::bad_request(&format!(
            "bad request error duration input: {duration}, duration must be either -1(Never) or a positive integer"
        )));
    }
    if level != "project" && level != "system" {
        return Err(respond::bad_request(&format!(
            "bad request error level input: {level}"
        )));
    }
    if permissions.is_empty() {
        return Err(respond::bad_request("bad request empty permission"));
    }
    if permissions.iter().any(|p| p.access.is_empty()) {
        return Err(respond::bad_request("bad request empty access"));
    }
    if level == "project" && permissions.len() > 1 {
        return Err(respond::bad_request("bad request permission"));
    }
    for p in permissions {
        let allowed = match p.kind.as_str() {
            "system" => ROBOT_SYSTEM_POLICIES,
            "project" => ROBOT_PROJECT_POLICIES,
            kind => {
                return Err(respond::bad_request(&format!(
                    "bad request permission level: {kind}"
                )));
            }
        };
        for (res, act) in &p.access {
            if !allowed.contains(&(res.as_str(), act.as_str())) {
                return Err(respond::bad_request(&format!(
                    "bad request permission: {res}:{act}"
                )));
            }
        }
    }
    Ok(())
}

/// Harbor's `q` syntax, the parts the double needs: `k=v` (exact) and `k=~v` (fuzzy),
/// separated by commas. `q` arrives decoded once; Harbor's `parseKeywords` decodes it again
/// (`url.QueryUnescape`, kept as it is when that fails), so a literal `+` must come as `%252B`
/// (docs/harbor-api.md#reading-updating-and-deleting).
pub(crate) fn parse_q(q: &str) -> Vec<(String, String, bool)> {
    let q = go_query_unescape(q).unwrap_or_else(|| q.to_owned());
    q.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let (v, fuzzy) = match v.strip_prefix('~') {
                Some(v) => (v, true),
                None => (v, false),
            };
            let v = v.trim_matches(|c| c == '"' || c == '\'');
            (k.trim().to_owned(), v.to_owned(), fuzzy)
        })
        .collect()
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte, and any other `%` an error.
fn go_query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let valid = b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    valid.then(|| crate::util::percent_decode(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_q_syntax_splits_exact_and_fuzzy_terms() {
        let q = parse_q("Level=project,ProjectID=5,name=~ci-");
        assert_eq!(q[0], ("Level".into(), "project".into(), false));
        assert_eq!(q[2], ("name".into(), "ci-".into(), true));
        // Decoded once more, as Go's `url.QueryUnescape`; a stray `%` leaves `q` as it is.
        assert_eq!(parse_q("name=a%2Bb+c")[0].1, "a+b c");
        assert_eq!(parse_q("name=a%zz+c")[0].1, "a%zz+c");
    }

    #[test]
    fn robot_validation_follows_harbors_order_and_messages() {
        let perm = |kind: &str, res: &str, act: &str| Permission {
            kind: kind.into(),
            namespace: "proj".into(),
            access: vec![(res.into(), act.into())],
        };
        let msg = |r: Result<(), Resp>| r.err().map(|resp| resp.status().as_u16());
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[perm("project", "repository", "push")]
            )),
            None
        );
        assert_eq!(
            msg(validate_robot(
                0,
                "project",
                &[perm("project", "repository", "push")]
            )),
            Some(400)
        );
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[perm("project", "user", "create")]
            )),
            Some(400)
        );
        assert_eq!(
            msg(validate_robot(
                1,
                "project",
                &[
                    perm("project", "repository", "push"),
                    perm("project", "repository", "pull")
                ]
            )),
            Some(400)
        );
        assert_eq!(msg(validate_robot(-1, "project", &[])), Some(400));
    }
}
