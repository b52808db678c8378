//! The differential test of shell quoting: what pre-build exports, evaluated the way
//! the runner evaluates it (`eval "$(…)"`) by dash, bash and busybox sh, gives back the exact
//! bytes of every value, whatever they are. A property test (proptest): random byte strings,
//! shrunk to the smallest failing one when a shell disagrees.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use docker_credential_harbor::shell;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::util::{TestEnv, require};

/// Values as bytes: any byte but NUL, which no variable, path or argument can hold.
fn values() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(
        prop_oneof![
            vec(1u8..=255, 0..48),
            // Weighted towards what breaks naive quoting.
            vec(
                prop::sample::select(b"'\"\\$`\n\r\t !*?[]{}();&|<>~#=%\xff".to_vec()),
                0..16
            ),
        ],
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn exported_values_evaluate_to_their_exact_bytes(values in values()) {
        let t = TestEnv::new("shell-quoting");
        let mut exports = Vec::new();
        for (i, v) in values.iter().enumerate() {
            exports.extend(shell::export(&format!("V{i}"), OsStr::from_bytes(v)));
            exports.push(b'\n');
        }
        let file = t.path("tmp/exports");
        fs::write(&file, &exports).unwrap();
        let mut script = format!("eval \"$(cat '{}')\"\n", file.display());
        for i in 0..values.len() {
            script.push_str(&format!("printf '%s\\0' \"$V{i}\"\n"));
        }
        for shell_cmd in ["dash", "bash", "busybox sh"] {
            let mut words = shell_cmd.split(' ');
            let mut cmd = t.command(require(words.next().unwrap()));
            cmd.args(words).arg("-c").arg(&script);
            let out = std::process::Command::output(cmd.stdin(std::process::Stdio::null())).unwrap();
            prop_assert!(out.status.success(), "{shell_cmd}: {:?}", String::from_utf8_lossy(&out.stderr));
            let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
            prop_assert_eq!(got.len(), values.len() + 1, "{}", shell_cmd);
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(got[i], v.as_slice(), "{} V{}", shell_cmd, i);
            }
        }
    }
}
