//! The job's `DOCKER_AUTH_CONFIG` after pre-build, under dash, bash and busybox sh with xtrace,
//! asserted against the docker CLI's semantics
//! (docs/gitlab-runner.md#job-images-from-harbor-image-and-services: docker ≥ 28.3 answers a
//! host listed there from the variable, keyed exactly as written, and rejects any value with
//! another key) and against docker's own code: the golden cases of tests/docker-auth-config/,
//! whose verdicts its oracle.go takes from docker's parser (scripts/test runs it where Go is
//! installed, as on CI). The docker CLI on this machine is 28.2, older than that change, so
//! these tests assert the environment the job's docker would read; they never fake a newer CLI.
//! No test may find an entry's secret in any output (`util::jobs::job` and [`rebuilt`] check).

use std::fs;
use std::path::Path;

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::docker_auth_config::DockerAuthConfig;
use harbor_double::Harbor;
use proptest::prelude::*;

use crate::util::jobs::{SHELLS, dump, gitlab, job, start};
use crate::util::{Out, TestEnv, base64, require, run};

/// A job of alice on `proj` whose `DOCKER_AUTH_CONFIG` is `value`; returns what the job's
/// shell holds after pre-build (`unset` when it was unset).
fn job_with(t: &mut TestEnv, h: &Harbor, shell: &str, value: &str) -> (Out, String) {
    gitlab(t, h, "alice", &h.password("alice"), "proj");
    t.set("DOCKER_AUTH_CONFIG", value);
    // The test's own read-back must not be traced: xtrace would show the value it prints.
    let read_back = format!(
        "{{ set +x; }} 2>/dev/null; {}",
        dump(&["DOCKER_AUTH_CONFIG"])
    );
    let out = job(t, shell, true, &[&read_back]).success();
    let seen = fs::read_to_string(t.path("tmp/vars.out")).unwrap();
    (out, seen.strip_suffix('|').unwrap().to_owned())
}

/// `"key":{"auth":"<base64 user:secret>"}`, with the secret registered with the test.
fn member(t: &mut TestEnv, key: &str, secret: &str) -> String {
    let auth = base64(format!("robot$pull:{secret}").as_bytes());
    t.secret(&auth).secret(secret);
    format!("\"{key}\":{{\"auth\":\"{auth}\"}}")
}

fn auths(members: &[&str]) -> String {
    format!("{{\"auths\":{{{}}}}}", members.join(","))
}

#[test]
fn harbors_entries_go_under_every_spelling_and_other_registries_stay_byte_for_byte() {
    for shell in SHELLS {
        let mut t = TestEnv::new(&format!("auth-env-filter-{}", shell.replace(' ', "-")));
        let h = start(&t, false);
        let addr = h.addr();
        let exact = member(&mut t, &addr.to_string(), "PULLONLY1");
        let url = member(&mut t, &format!("https://{addr}/"), "PULLONLY2");
        let v2 = member(&mut t, &format!("{addr}/v2/"), "PULLONLY3");
        let ghcr = member(&mut t, "ghcr.io", "GHCRSECRET");
        let other_port = member(&mut t, "127.0.0.1:1", "OTHERPORT");
        let value = auths(&[&exact, &ghcr, &url, &other_port, &v2]);
        let (out, seen) = job_with(&mut t, &h, shell, &value);
        assert_eq!(seen, auths(&[&ghcr, &other_port]), "{shell}");
        // What docker ≥ 28.3 then reads: a valid store without any Harbor key.
        let harbor = Registry::parse(&addr.to_string()).unwrap();
        let parsed = DockerAuthConfig::parse(Some(seen.as_bytes()));
        assert!(
            matches!(parsed, DockerAuthConfig::Valid { .. }),
            "{parsed:?}"
        );
        assert_eq!(parsed.shadowing(std::slice::from_ref(&harbor)).count(), 0);
        out.stderr_has("DOCKER_AUTH_CONFIG without its Harbor entry for this job")
            .stderr_has("2 other entries kept");
    }
}

#[test]
fn only_harbor_in_it_unsets_it_and_without_harbor_it_is_untouched() {
    let mut t = TestEnv::new("auth-env-only-harbor");
    let h = start(&t, false);
    let harbor = member(&mut t, &h.addr().to_string(), "PULLONLY");
    let (out, seen) = job_with(&mut t, &h, "dash", &auths(&[&harbor]));
    assert_eq!(seen, "unset");
    out.stderr_has("DOCKER_AUTH_CONFIG unset for this job");

    let mut t = TestEnv::new("auth-env-no-harbor");
    let h = start(&t, false);
    // Whitespace and escapes as a person writes them: kept exactly, not re-serialised.
    let value = format!(
        "{{ \"auths\": {{\n  \"ghcr.io\": {{ \"auth\": \"{}\" }} }} }}\n",
        base64(b"me:GHCRSECRET")
    );
    t.secret("GHCRSECRET");
    let (out, seen) = job_with(&mut t, &h, "bash", &value);
    assert_eq!(seen, value);
    assert!(!out.stderr.contains("DOCKER_AUTH_CONFIG"), "{}", out.stderr);
}

#[test]
fn a_value_docker_rejects_is_unset_with_a_warning_that_names_the_fix() {
    for value in [
        // What docs/gitlab-runner.md recommended before: valid for the runner, not for docker.
        "{\"credHelpers\":{\"harbor.example.net\":\"harbor\"}}".to_owned(),
        "{\"credsStore\":\"harbor\"}".to_owned(),
        format!(
            "{{\"auths\":{{\"ghcr.io\":{{\"username\":\"u\",\"auth\":\"{}\"}}}}}}",
            base64(b"u:p")
        ),
        "{\"auths\":{\"ghcr.io\":{\"auth\":\"%%%\"}}}".to_owned(),
        "{\"auths\":{}} {}".to_owned(),
    ] {
        let mut t = TestEnv::new("auth-env-invalid");
        let h = start(&t, false);
        let (out, seen) = job_with(&mut t, &h, "busybox sh", &value);
        assert_eq!(seen, "unset", "{value}");
        out.stderr_has("docker-credential-harbor: warning: DOCKER_AUTH_CONFIG unset for this job: docker ≥ 28.3 rejects it")
            .stderr_has("~/.docker/config.json");
    }
}

#[test]
fn keep_leaves_it_as_it_is_and_says_what_that_means() {
    let mut t = TestEnv::new("auth-env-keep");
    let h = start(&t, false);
    let value = auths(&[&member(&mut t, &h.addr().to_string(), "PULLONLY")]);
    t.set("DOCKER_CREDENTIAL_HARBOR_KEEP_DOCKER_AUTH_CONFIG", "1");
    let (out, seen) = job_with(&mut t, &h, "dash", &value);
    assert_eq!(seen, value);
    out.stderr_has("kept because DOCKER_CREDENTIAL_HARBOR_KEEP_DOCKER_AUTH_CONFIG is set");
}

#[test]
fn a_value_that_cannot_be_cut_by_offsets_is_unset_rather_than_kept_with_harbor() {
    let mut t = TestEnv::new("auth-env-non-ascii");
    let h = start(&t, false);
    let harbor = member(&mut t, &h.addr().to_string(), "PULLONLY");
    let cases = [
        (
            member(&mut t, "régistry.example", "OTHER"),
            "the value is not ASCII",
        ),
        // The limit pre-build rebuilds to (64 KiB).
        (
            member(&mut t, "ghcr.io", &"B".repeat(50_000)),
            "the value is longer than 65536 bytes",
        ),
    ];
    for (other, because) in cases {
        let (out, seen) = job_with(&mut t, &h, "bash", &auths(&[&harbor, &other]));
        assert_eq!(seen, "unset");
        out.stderr_has(&format!(
            "its other entries cannot be kept, because {because}"
        ));
    }
}

#[test]
fn doctor_names_a_harbor_entry_and_a_rejected_value() {
    let mut t = TestEnv::new("auth-env-doctor");
    let h = start(&t, false);
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    let harbor = member(&mut t, &h.addr().to_string(), "PULLONLY");
    // Neither a `}` after the value nor `authſ` (U+017F) makes docker reject it.
    for value in [
        auths(&[&harbor]),
        format!("{} }}", auths(&[&harbor])),
        format!("{{\"auth\u{17f}\":{{{harbor}}}}}"),
    ] {
        t.set("DOCKER_AUTH_CONFIG", &value);
        let out = t.helper(&["doctor"], b"");
        t.assert_clean(&out);
        out.stdout_has(&format!(
            "warn  docker auth  DOCKER_AUTH_CONFIG has an entry for {}: docker ≥ 28.3 answers from it",
            h.addr()
        ))
        .stdout_has("~/.docker/config.json");
        assert!(!out.stdout.contains("rejected"), "{}", out.stdout);
    }
    t.set("DOCKER_AUTH_CONFIG", "{\"credHelpers\":{\"x\":\"harbor\"}}");
    let out = t.helper(&["doctor"], b"");
    out.stdout_has("warn  docker auth  DOCKER_AUTH_CONFIG is rejected by docker ≥ 28.3 (it holds \"credHelpers\"");
    let ghcr = auths(&[&member(&mut t, "ghcr.io", "GHCRSECRET")]);
    t.set("DOCKER_AUTH_CONFIG", ghcr);
    let out = t.helper(&["doctor"], b"");
    assert!(!out.stdout.contains("docker auth"), "{}", out.stdout);
}

/// A value in Go's quoted-string syntax, as oracle.go writes it, and what follows it.
fn go_unquote(s: &str) -> (Vec<u8>, &str) {
    let mut chars = s.strip_prefix('"').expect("a quoted value").char_indices();
    let mut out = Vec::new();
    let hex = |h: &str| u32::from_str_radix(h, 16).expect("hex digits");
    while let Some((i, c)) = chars.next() {
        let rest = &s[1 + i + c.len_utf8()..];
        let (bytes, skip) = match c {
            '"' => return (out, rest),
            '\\' => match chars.next().expect("an escape").1 {
                'x' => (vec![hex(&rest[1..3]) as u8], 2),
                'u' => (
                    char::from_u32(hex(&rest[1..5]))
                        .unwrap()
                        .to_string()
                        .into_bytes(),
                    4,
                ),
                'U' => (
                    char::from_u32(hex(&rest[1..9]))
                        .unwrap()
                        .to_string()
                        .into_bytes(),
                    8,
                ),
                e => {
                    let b = match e {
                        'a' => 7,
                        'b' => 8,
                        'f' => 12,
                        'n' => b'\n',
                        'r' => b'\r',
                        't' => b'\t',
                        'v' => 11,
                        '\\' | '"' => e as u8,
                        _ => panic!("escape \\{e}"),
                    };
                    (vec![b], 0)
                }
            },
            c => (c.to_string().into_bytes(), 0),
        };
        out.extend(bytes);
        for _ in 0..skip {
            chars.next();
        }
    }
    panic!("no closing quote: {s}")
}

/// docker decodes the value with Go's encoding/json and ignores what follows a `]`
/// or `}` after it, folds field names as Go does, merges `auths` twice; we read every golden
/// case as docker does, the reason for refusing it included.
#[test]
fn we_read_every_golden_case_as_dockers_own_code_does() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/docker-auth-config/cases.txt"
    );
    let mut cases = 0;
    for (n, line) in fs::read_to_string(file).unwrap().lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (want, quoted) = line.split_once('\t').expect("a verdict, a tab, a value");
        let (value, _) = go_unquote(quoted);
        let got = match DockerAuthConfig::parse(Some(&value)) {
            DockerAuthConfig::Valid { entries, .. } => {
                let mut keys: Vec<String> = entries.into_iter().map(|e| e.key).collect();
                keys.sort();
                keys.dedup();
                let mut want_keys = Vec::new();
                let mut rest = want.strip_prefix("ok").unwrap_or("not ok");
                while let Some(r) = rest.strip_prefix(' ') {
                    let (k, r) = go_unquote(r);
                    want_keys.push(String::from_utf8(k).unwrap());
                    rest = r;
                }
                if keys == want_keys && rest.is_empty() {
                    want.to_owned()
                } else {
                    format!("ok {keys:?}")
                }
            }
            DockerAuthConfig::Invalid(why) => format!("{why:?}")
                .split('(')
                .next()
                .unwrap()
                .replace("Shape", "shape")
                .replace("UnknownKey", "unknown-key")
                .replace("MissingAuth", "missing-auth")
                .replace("BadAuth", "bad-auth")
                .replace("Trailing", "trailing"),
            other => format!("{other:?}"),
        };
        assert_eq!(got, want, "line {}: {quoted}", n + 1);
        cases += 1;
    }
    assert!(cases >= 90, "{cases} cases");
}

#[test]
fn what_follows_the_value_and_folded_names_keep_the_other_registries() {
    let mut t = TestEnv::new("auth-env-go-reading");
    let h = start(&t, false);
    let harbor = member(&mut t, &h.addr().to_string(), "PULLONLY");
    let ghcr = member(&mut t, "ghcr.io", "GHCRSECRET");
    // docker reads the object and looks no further than a `]` or `}` after it.
    let value = format!("{} ]x", auths(&[&ghcr, &harbor]));
    let (out, seen) = job_with(&mut t, &h, "dash", &value);
    assert_eq!(seen, auths(&[&ghcr]));
    out.stderr_has("DOCKER_AUTH_CONFIG without its Harbor entry for this job")
        .stderr_has("1 other entry kept");
    // `authſ` (U+017F) is `auths` to Go: a store, not a value docker rejects.
    for value in [
        format!("{{\"auth\u{17f}\":{{{ghcr}}}}}"),
        format!("{{\"AUTHS\":{{{ghcr}}}}} }}"),
    ] {
        let (out, seen) = job_with(&mut t, &h, "bash", &value);
        assert_eq!(seen, value);
        assert!(!out.stderr.contains("DOCKER_AUTH_CONFIG"), "{}", out.stderr);
    }
}

/// The part of pre-build's output that rebuilds `DOCKER_AUTH_CONFIG`.
fn rebuild_lines(script: &str) -> &str {
    let start = script.find("{ __dch_x=$-").expect("a rebuild");
    let end = script.find("unset __dch_x").expect("its end") + "unset __dch_x".len();
    &script[start..end]
}

/// Runs pre-build's `script` under `shell` with xtrace, as the job does, under strace with a
/// generous hang guard (not a speed check), and returns what the variable then holds. The
/// shell runs no other program: the fields go to the builtin printf, never to a command line.
fn rebuilt(t: &TestEnv, shell: &str, script: &Path) -> String {
    let trace = t.path("tmp/execve.log");
    let mut words = shell.split(' ');
    let mut cmd = t.command(require("timeout"));
    cmd.arg("300").arg(require("strace"));
    cmd.args(["-f", "-qq", "-s", "1000000", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg(require(words.next().unwrap()))
        .args(words)
        .args([
            "-c",
            "set -ex; . \"$1\"; { set +x; } 2>/dev/null; \
             printf %s \"${DOCKER_AUTH_CONFIG-unset}\" > \"$TMPDIR/value\"",
            "sh",
        ]);
    let out = run(cmd.arg(script)).success();
    t.assert_clean(&out);
    let trace = fs::read_to_string(&trace).unwrap();
    let execs = trace.lines().filter(|l| l.contains("execve(")).count();
    assert_eq!(execs, 1, "{shell} ran more than itself: {trace}");
    t.assert_clean(&Out {
        code: None,
        stdout: trace,
        stderr: String::new(),
    });
    fs::read_to_string(t.path("tmp/value")).unwrap()
}

/// Each kept entry used to be cut with its own `${v#??…}` patterns, so
/// the script grew as entries × length and shells matched it in quadratic time (100 entries,
/// 11 KB: 1.1 MB of script). Now the script is at most twice the value plus a constant per
/// removed entry, and every shell rebuilds big values byte for byte (within the hang guard).
#[test]
fn big_values_are_rebuilt_by_a_script_linear_in_their_size_in_every_shell() {
    // The shapes under the limit, and the densest split: keys of escaped quotes.
    let shapes: [(&str, usize, usize); 3] = [
        ("entries", 100, 60),
        ("long", 28, 1_500),
        ("quotes", 240, 0),
    ];
    for (name, count, secret_len) in shapes {
        let mut t = TestEnv::new(&format!("auth-env-linear-{name}"));
        let h = start(&t, false);
        gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
        t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
        let addr = h.addr().to_string();
        let (mut members, mut kept, mut removed) = (Vec::new(), Vec::new(), 0);
        for i in 0..count {
            // Harbor's entry under three spellings: first, in the middle, last.
            if i == 0 || i == count / 2 || i == count - 1 {
                let spelling = [
                    addr.clone(),
                    format!("https://{addr}/"),
                    format!("{addr}/v2/"),
                ];
                members.push(member(&mut t, &spelling[removed], &format!("PULL{i}")));
                removed += 1;
            }
            let key = match name {
                "quotes" => format!("{}r{i}", "\\\"".repeat(100)),
                _ => format!("r{i}.example.com"),
            };
            let m = member(&mut t, &key, &format!("S{i}x{}", "y".repeat(secret_len)));
            members.push(m.clone());
            kept.push(m);
        }
        let value = auths(&members.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            (10_000..=64 * 1024).contains(&value.len()),
            "{name}: {}",
            value.len()
        );
        t.set("DOCKER_AUTH_CONFIG", &value);
        let out = t.helper(&["pre-build"], b"").success();
        t.assert_clean(&out);
        let lines = rebuild_lines(&out.stdout);
        let bound = 2 * value.len() + 100 * removed + 1024;
        assert!(
            lines.len() <= bound,
            "{name}: {} bytes of script for {} bytes of value",
            lines.len(),
            value.len()
        );
        let script = t.path("tmp/pre-build.sh");
        fs::write(&script, &out.stdout).unwrap();
        let want = auths(&kept.iter().map(String::as_str).collect::<Vec<_>>());
        for shell in SHELLS {
            assert!(rebuilt(&t, shell, &script) == want, "{name} under {shell}");
        }
    }
}

/// Keys as docker would see them: Harbor's under several spellings, others, one with a JSON
/// escape; members joined with the whitespace people and generators write, in one `auths`
/// object or two (split before a member), its name spelled as Go folds it, and what docker
/// ignores after the value.
type Config = (
    Vec<(usize, String, String)>,
    &'static str,
    usize,
    &'static str,
);

fn configs() -> impl Strategy<Value = Config> {
    let key = 0usize..6;
    let ws = prop::sample::select(vec!["", " ", "\n  ", "\t"]);
    let members = prop::collection::vec(
        (key, ws, "[A-Za-z0-9!#%&()*+,./:;<=>?@^_`{|}~ -]{0,24}"),
        0..6,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(k, w, secret)| (k, w.to_owned(), secret))
            .collect::<Vec<_>>()
    });
    let name = prop::sample::select(vec!["auths", "AUTHS", "Auths", "auth\u{17f}"]);
    let tail = prop::sample::select(vec!["", " ", " ]", "}x", "\n] {"]);
    (members, name, 0usize..8, tail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The differential test of `shell::rebuild`: whatever the entries, their order, spacing
    /// and secrets, every shell ends with exactly the other registries' members, cut from the
    /// value byte for byte (consecutive ones with what was between them), or with the
    /// variable unset when none is left or the value is not ASCII.
    #[test]
    fn every_shell_keeps_exactly_the_other_registries(config in configs()) {
        let (entries, name, split, tail) = config;
        let mut t = TestEnv::new("auth-env-prop");
        let h = start(&t, false);
        t.set("DOCKER_CREDENTIAL_HARBOR_VERIFY", "off");
        let addr = h.addr().to_string();
        let keys = [
            addr.clone(),
            format!("https://{addr}"),
            format!("{addr}/v2/"),
            "ghcr.io".to_owned(),
            "registry.example.com:5000".to_owned(),
            "r\\u0065gistry.example.org".to_owned(),
        ];
        let mut objects = [Vec::new(), Vec::new()];
        let mut runs: Vec<String> = Vec::new();
        let mut after = None;
        for (i, (k, ws, secret)) in entries.iter().enumerate() {
            let auth = base64(format!("u:{secret}").as_bytes());
            let m = format!("{ws}\"{}\"{ws}:{ws}{{{ws}\"auth\":\"{auth}\"}}", keys[*k]);
            let object = usize::from(i >= split);
            if *k < 3 {
                after = None;
            } else {
                match runs.last_mut() {
                    Some(run) if after == Some(object) => *run = format!("{run},{m}"),
                    _ => runs.push(m.trim_start().to_owned()),
                }
                after = Some(object);
            }
            objects[object].push(m);
        }
        let mut value = format!("{{\"{name}\":{{{}}}", objects[0].join(","));
        if !objects[1].is_empty() {
            value += &format!(",\"AUTHS\":{{{}}}", objects[1].join(","));
        }
        value += "}";
        value += tail;
        let kept = runs.iter().map(|r| r.matches("\"auth\"").count()).sum::<usize>();
        let want = if kept == entries.len() {
            value.clone()
        } else if kept == 0 || !value.is_ascii() {
            "unset".to_owned()
        } else {
            auths(&runs.iter().map(String::as_str).collect::<Vec<_>>())
        };
        for shell in SHELLS {
            let (_, seen) = job_with(&mut t, &h, shell, &value);
            prop_assert_eq!(&seen, &want, "{} {}", shell, value);
        }
    }
}
