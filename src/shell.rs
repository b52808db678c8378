//! POSIX `sh` quoting and `export` lines that are safe for any byte a variable can hold.
//!
//! `pre-build`'s output is `eval`ed by the job's shell (dash, bash, busybox ash), so every value
//! goes in single quotes, where nothing is special, and each `'` becomes `'\''`. Newlines are
//! fine inside single quotes. Pure: no I/O. Never called with a secret: the password is never
//! exported (it is already in the job's environment, and `set -x` would echo it).

/// `value` as one single-quoted shell word.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Whether `name` can be a shell variable name.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `export NAME='value'`. Panics on a name that is not a shell name: names are constants.
pub fn export(name: &str, value: &str) -> String {
    assert!(is_name(name), "not a shell variable name: {name}");
    format!("export {name}={}", quote(value))
}

/// `unset NAME`.
pub fn unset(name: &str) -> String {
    assert!(is_name(name), "not a shell variable name: {name}");
    format!("unset {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_inert_for_every_special_character() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("robot$proj+ci"), "'robot$proj+ci'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("`id` $(id) \\ \" *"), "'`id` $(id) \\ \" *'");
    }

    #[test]
    fn names() {
        assert!(is_name("HARBOR_URL") && is_name("_x1"));
        assert!(!is_name("1X") && !is_name("A-B") && !is_name("") && !is_name("A B"));
        assert_eq!(export("X", "a'b"), "export X='a'\\''b'");
    }
}
