//! The protocol's conformance rows, P1–P18 (the verbs) and N1–N6 (addresses), as
//! docs/protocol.md states them, through the built binary. Each row runs once per source that
//! can hold "robot$ci / s3cr3t\"\x for harbor.example.com": the GitLab environment, the
//! helper's store, and the runner config.

use std::io::Write;
use std::process::Stdio;

use crate::util::{TABLE_SECRET, TestEnv, get_answer, store_json, write_mode};

const HOST: &str = "harbor.example.com";
const USER: &str = "robot$ci";
const NOT_FOUND: &str = "credentials not found in native keychain\n";

#[derive(Clone, Copy, Debug)]
enum Source {
    Environment,
    Store,
    RunnerSideConfig,
}

const SOURCES: [Source; 3] = [Source::Environment, Source::Store, Source::RunnerSideConfig];

/// A test environment where `source` holds the table's credentials for harbor.example.com.
fn configured(name: &str, source: Source) -> TestEnv {
    let mut t = TestEnv::new(&format!("{name}-{source:?}"));
    t.secret(TABLE_SECRET);
    match source {
        Source::Environment => {
            t.harbor_env("https://harbor.example.com", "robot$$ci", TABLE_SECRET);
        }
        Source::Store => {
            t.store(HOST, USER, TABLE_SECRET).success();
        }
        Source::RunnerSideConfig => {
            write_mode(&t.path("pull.secret"), &format!("{TABLE_SECRET}\n"), 0o600);
            let cfg = format!(
                r#"{{"registries":{{"{HOST}":{{"username":"{USER}","password_file":"{}"}}}}}}"#,
                t.path("pull.secret").display()
            );
            write_mode(&t.path("runner-config.json"), &cfg, 0o644);
        }
    }
    t
}

#[test]
fn p1_p2_get_answers_one_exact_json_line_for_trimmed_input() {
    for source in SOURCES {
        let t = configured("p1", source);
        for input in [
            HOST,
            "harbor.example.com\n",
            "harbor.example.com\r\n",
            "  harbor.example.com \t",
        ] {
            let out = t.helper(&["get"], input.as_bytes()).success();
            assert_eq!(
                out.stdout,
                get_answer(HOST, USER, TABLE_SECRET),
                "{source:?} {input:?}"
            );
            assert_eq!(
                out.stdout,
                "{\"ServerURL\":\"harbor.example.com\",\"Username\":\"robot$ci\",\"Secret\":\"s3cr3t\\\"\\\\x\"}\n"
            );
            assert_eq!(out.stderr, "", "P17: stderr stays empty on success");
        }
    }
}

#[test]
fn p3_unknown_host_is_the_exact_not_found_message() {
    for source in SOURCES {
        let t = configured("p3", source);
        let out = t.helper(&["get"], b"unknown.example.org");
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(1), NOT_FOUND, "")
        );
    }
}

#[test]
fn p4_empty_input_is_no_server_url() {
    let t = TestEnv::new("p4");
    for verb in ["get", "erase"] {
        for input in ["", "\n", " \r\n"] {
            let out = t.helper(&[verb], input.as_bytes());
            assert_eq!(
                (out.code, out.stdout.as_str()),
                (Some(1), "no credentials server URL\n"),
                "{verb} {input:?}"
            );
        }
    }
}

#[test]
fn p5_p6_store_is_a_silent_upsert() {
    let t = TestEnv::new("p5");
    let out = t
        .helper(&["store"], store_json(HOST, "u", "p").as_bytes())
        .success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    t.store(HOST, "u", "second").success();
    assert_eq!(
        t.helper(&["get"], HOST.as_bytes()).success().stdout,
        get_answer(HOST, "u", "second")
    );
}

#[test]
fn p7_p8_store_validates_username_and_server_url() {
    let t = TestEnv::new("p7");
    let out = t.helper(
        &["store"],
        br#"{"ServerURL":"harbor.example.com","Username":"","Secret":"p"}"#,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(1), "no credentials username\n")
    );
    let out = t.helper(
        &["store"],
        br#"{"ServerURL":"","Username":"u","Secret":"p"}"#,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(1), "no credentials server URL\n")
    );
    assert!(!t.store_path().exists(), "a refused store writes nothing");
}

#[test]
fn p9_token_user_round_trips() {
    let t = TestEnv::new("p9");
    t.helper(
        &["store"],
        br#"{"ServerURL":"harbor.example.com","Username":"\u003ctoken\u003e","Secret":"id-token"}"#,
    )
    .success();
    let out = t.helper(&["get"], HOST.as_bytes()).success();
    assert_eq!(out.stdout, get_answer(HOST, "<token>", "id-token"));
}

#[test]
fn p10_pretty_printed_store_without_newline_is_accepted() {
    let t = TestEnv::new("p10");
    let body = "{\n  \"ServerURL\": \"harbor.example.com\",\n  \"Username\": \"u\",\n  \"Secret\": \"p\"\n}";
    t.helper(&["store"], body.as_bytes()).success();
    assert_eq!(
        t.helper(&["get"], HOST.as_bytes()).success().stdout,
        get_answer(HOST, "u", "p")
    );
}

#[test]
fn p11_p12_erase_removes_and_tolerates_missing_entries() {
    let t = TestEnv::new("p11");
    t.store(HOST, "u", "p").success();
    let out = t.helper(&["erase"], HOST.as_bytes()).success();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert_eq!(t.helper(&["get"], HOST.as_bytes()).stdout, NOT_FOUND);
    let out = t.helper(&["erase"], b"never-stored.example.com").success();
    assert_eq!(out.stdout, "");
    // docker logout sends these variants for one host (docs/protocol.md#erase).
    t.store(HOST, "u", "p").success();
    for variant in [
        "http://harbor.example.com",
        "https://harbor.example.com",
        HOST,
        HOST,
    ] {
        t.helper(&["erase"], variant.as_bytes()).success();
    }
    assert_eq!(t.helper(&["get"], HOST.as_bytes()).stdout, NOT_FOUND);
}

#[test]
fn p13_list_returns_bare_keys_from_every_source_and_ignores_stdin() {
    for source in SOURCES {
        let t = configured("p13", source);
        let out = t.helper(&["list"], b"unused").success();
        assert_eq!(
            out.stdout, "{\"harbor.example.com\":\"robot$ci\"}\n",
            "{source:?}"
        );
        t.assert_clean(&out);
    }
    let t = TestEnv::new("p13-empty");
    assert_eq!(t.helper(&["list"], b"unused").success().stdout, "{}\n");
}

#[test]
fn p13_list_merges_all_three_sources_with_the_first_source_winning() {
    let mut t = TestEnv::new("p13-merge");
    t.harbor_env(
        "https://harbor.example.com:8443/",
        "robot$$proj+ci",
        "env-pw",
    );
    t.store("https://Harbor.Example.com:8443", "stored-user", "x")
        .success();
    t.store("docker.io", "hubuser", "y").success();
    t.store("other.example:5000", "other", "z").success();
    write_mode(
        &t.path("runner-config.json"),
        r#"{"registries":{"runner.example":{"username":"robot$pull+runner","password_env":"NOT_NEEDED_FOR_LIST"}}}"#,
        0o600,
    );
    let out = t.helper(&["list"], b"unused").success();
    assert_eq!(
        out.stdout,
        "{\"docker.io\":\"hubuser\",\"harbor.example.com:8443\":\"robot$proj+ci\",\"other.example:5000\":\"other\",\"runner.example\":\"robot$pull+runner\"}\n"
    );
}

#[test]
fn p14_version_is_one_line() {
    let t = TestEnv::new("p14");
    for arg in ["version", "--version", "-v"] {
        let out = t.helper(&[arg], b"").success();
        assert_eq!(
            out.stdout,
            format!(
                "docker-credential-harbor (docker-credential-harbor) {}\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(out.stderr, "");
    }
}

#[test]
fn p15_p16_usage_and_unknown_action() {
    let t = TestEnv::new("p15");
    let out = t.helper(&[], b"");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            Some(1),
            "Usage: docker-credential-harbor <store|get|erase|list|version>\n"
        )
    );
    let out = t.helper(&["frobnicate"], b"");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            Some(1),
            "docker-credential-harbor: unknown action: frobnicate\n"
        )
    );
    // The address never comes from argv.
    let out = t.helper(&["get", HOST], b"");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            Some(1),
            "Usage: docker-credential-harbor <store|get|erase|list|version>\n"
        )
    );
    let out = t.helper(&["--help"], b"").success();
    assert!(
        out.stdout.starts_with("Usage: docker-credential-harbor")
            && out.stdout.contains("HARBOR_URL")
    );
}

#[test]
fn p18_hostile_secrets_and_robot_users_round_trip_byte_for_byte() {
    let t = TestEnv::new("p18");
    let secrets = [
        "quote\"back\\slash",
        "dollar$HOME$(id)${x}",
        "single'quote",
        "back`tick`",
        "tab\there",
        "new\nline\r\n",
        "&<>html",
        "ünïcødé ✓ 🔑",
        " leading and trailing ",
        "\u{1}control",
    ];
    for (i, secret) in secrets.iter().enumerate() {
        let host = format!("h{i}.example");
        let user = format!("robot$proj+name{i}");
        t.store(&host, &user, secret).success();
        let out = t.helper(&["get"], host.as_bytes()).success();
        assert_eq!(out.stdout, get_answer(&host, &user, secret));
        let parsed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(parsed["Secret"].as_str(), Some(*secret));
        assert_eq!(parsed["Username"].as_str(), Some(user.as_str()));
    }
}

#[test]
fn p19_parallel_store_and_get_on_one_key() {
    let t = TestEnv::new("p19");
    let writers: Vec<_> = (0..32)
        .map(|i| {
            t.spawn_helper(
                &["store"],
                store_json(HOST, "u", &format!("secret-{i}")).as_bytes(),
            )
        })
        .collect();
    let readers: Vec<_> = (0..32)
        .map(|_| t.spawn_helper(&["get"], HOST.as_bytes()))
        .collect();
    for w in writers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    for r in readers {
        let out = r.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        // A reader racing the first writer may miss; it must never see a torn store.
        assert!(
            stdout == NOT_FOUND || stdout.starts_with("{\"ServerURL\":\"harbor.example.com\""),
            "{stdout}"
        );
    }
    let out = t.helper(&["get"], HOST.as_bytes()).success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let secret = v["Secret"].as_str().unwrap();
    assert!((0..32).any(|i| secret == format!("secret-{i}")), "{secret}");
}

#[test]
fn n1_to_n4_address_forms_reach_the_same_credentials() {
    for source in SOURCES {
        let t = configured("n1", source);
        for input in [
            "https://harbor.example.com",
            "https://harbor.example.com/",
            "http://harbor.example.com/v2/",
            "harbor.example.com/library/nginx",
            "HARBOR.EXAMPLE.COM",
            "harbor.example.com:443",
            "oci://harbor.example.com/proj",
        ] {
            let out = t.helper(&["get"], input.as_bytes()).success();
            // ServerURL echoes the trimmed input (DCH semantics).
            assert_eq!(
                out.stdout,
                get_answer(input, USER, TABLE_SECRET),
                "{source:?} {input}"
            );
        }
    }
}

#[test]
fn n5_n6_other_ports_and_docker_hub_never_match() {
    for source in SOURCES {
        let t = configured("n5", source);
        for input in [
            "harbor.example.com:8443",
            "https://index.docker.io/v1/",
            "docker.io",
            "index.docker.io/library/alpine",
            "registry-1.docker.io",
        ] {
            let out = t.helper(&["get"], input.as_bytes());
            assert_eq!(
                (out.code, out.stdout.as_str()),
                (Some(1), NOT_FOUND),
                "{source:?} {input}"
            );
        }
    }
}

#[test]
fn docker_hub_is_never_served_from_harbor_variables() {
    let mut t = TestEnv::new("hub-env");
    t.harbor_env("https://index.docker.io/v1/", "u", "hub-pw");
    for input in ["https://index.docker.io/v1/", "docker.io"] {
        assert_eq!(t.helper(&["get"], input.as_bytes()).stdout, NOT_FOUND);
    }
    // …but a `docker login` to Hub through the store works, under any of Hub's names.
    t.store("https://index.docker.io/v1/", "hubuser", "hub-secret")
        .success();
    let out = t.helper(&["get"], b"docker.io").success();
    assert_eq!(out.stdout, get_answer("docker.io", "hubuser", "hub-secret"));
}

#[test]
fn huge_and_non_utf8_stdin_fail_cleanly() {
    let t = TestEnv::new("huge");
    let huge = vec![b'a'; 8 << 20];
    for verb in ["get", "store", "erase"] {
        let out = t.helper(&[verb], &huge);
        assert_eq!(out.code, Some(1), "{verb}");
        assert!(
            out.stdout.contains("larger than 1024 KiB"),
            "{verb}: {}",
            out.stdout
        );
        assert_eq!(out.stderr, "", "{verb}: no panic, no stderr");
    }
    for verb in ["get", "erase"] {
        let out = t.helper(&[verb], &[0xff, 0xfe, b'h', 0x80]);
        assert_eq!(out.code, Some(1));
        assert!(out.stdout.contains("not valid UTF-8"), "{}", out.stdout);
        assert_eq!(out.stderr, "");
    }
    let out = t.helper(
        &["store"],
        b"{\"ServerURL\":\"h\",\"Username\":\"u\",\"Secret\":\"\xff\xfe\"}",
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("not a valid JSON object"),
        "{}",
        out.stdout
    );
    assert!(!t.store_path().exists());
}

#[test]
fn malformed_store_requests_never_echo_the_secret() {
    let mut t = TestEnv::new("malformed");
    t.secret("TOPSECRETVALUE");
    for body in [
        "{\"ServerURL\":\"h\",\"Username\":\"u\",\"Secret\":\"TOPSECRETVALUE\"",
        "{\"ServerURL\":\"h\",\"Username\":\"u\",\"Secret\":[\"TOPSECRETVALUE\"]}",
        "{\"ServerURL\":\"h\",\"Username\":\"TOPSECRETVALUE\" \"Secret\":1}",
        "TOPSECRETVALUE",
    ] {
        let out = t.helper(&["store"], body.as_bytes());
        assert_eq!(out.code, Some(1));
        assert!(
            out.stdout.starts_with(
                "docker-credential-harbor: the credentials on stdin are not a valid JSON object"
            ),
            "{}",
            out.stdout
        );
        t.assert_clean(&out);
    }
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

/// The binary starts without std's runtime (docs/benchmarks.md) but keeps what it did: a closed
/// stdout or stderr is `/dev/null`, so no file the command opens (the store, its lock) takes
/// its descriptor and receives the answer.
#[test]
fn with_stdout_or_stderr_closed_no_file_of_ours_receives_the_answer() {
    let t = configured("closed-fds", Source::Store);
    let dir = t.store_path().parent().unwrap().to_owned();
    for closed in [">&-", "2>&-", ">&- 2>&-"] {
        let list = "{\"harbor.example.com\":\"robot$ci\"}\n".to_owned();
        for (verb, answer) in [
            ("get", get_answer(HOST, USER, TABLE_SECRET)),
            ("list", list),
        ] {
            let stdout = if closed.starts_with('>') { "" } else { &answer };
            let before = snapshot(&dir);
            let out = crate::util::run_with_stdin(
                t.command("sh")
                    .args(["-c", &format!("exec \"$0\" {verb} {closed}")])
                    .arg(crate::util::BIN),
                HOST.as_bytes(),
            );
            assert_eq!(
                (out.code, out.stdout.as_str(), out.stderr.as_str()),
                (Some(0), stdout, ""),
                "{verb} {closed}"
            );
            assert_eq!(snapshot(&dir), before, "{verb} {closed}: a file changed");
        }
        let out = crate::util::run_with_stdin(
            t.command("sh")
                .args(["-c", &format!("exec \"$0\" store {closed}")])
                .arg(crate::util::BIN),
            store_json("other.example", "u", "other-pw").as_bytes(),
        );
        assert_eq!(out.code, Some(0), "store {closed}: {out:?}");
        let out = t.helper(&["get"], b"other.example").success();
        assert_eq!(out.stdout, get_answer("other.example", "u", "other-pw"));
        assert_eq!(
            t.helper(&["get"], HOST.as_bytes()).success().stdout,
            get_answer(HOST, USER, TABLE_SECRET),
            "store {closed}: the store lost an entry"
        );
        t.helper(&["erase"], b"other.example").success();
    }
}

/// The same guarantee seen from outside: while `get` waits for its input with stdout and
/// stderr closed by its parent, both are open on `/dev/null`.
#[test]
fn a_closed_stdout_and_stderr_are_dev_null_while_the_command_runs() {
    let t = configured("closed-fds-proc", Source::Store);
    let mut child = t
        .command("sh")
        .args(["-c", "exec \"$0\" get >&- 2>&-"])
        .arg(crate::util::BIN)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let proc = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let bin = std::fs::canonicalize(crate::util::BIN).unwrap();
    // Once the helper (not sh) sleeps, it is blocked reading stdin: its start-up is done.
    let start = std::time::Instant::now();
    loop {
        let running = std::fs::read_link(proc.join("exe")).ok() == Some(bin.clone());
        let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if running && state == Some('S') {
            break;
        }
        // A hang guard, not a measure of speed.
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never waited for stdin"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let fds = [1, 2].map(|fd| std::fs::read_link(proc.join(format!("fd/{fd}"))).ok());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(HOST.as_bytes())
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let null = Some(std::path::PathBuf::from("/dev/null"));
    assert_eq!(fds, [null.clone(), null]);
}

/// SIGPIPE stays ignored, as std's start-up left it: a reader that went away (`… | head -c0`)
/// makes every command fail with exit 1 and say nothing, never die of a signal.
#[test]
fn a_reader_gone_from_stdout_is_exit_1_for_every_command_not_a_signal() {
    let t = configured("epipe", Source::Environment);
    let cases: [(&[&str], &[u8]); 8] = [
        (&["get"], HOST.as_bytes()),
        (&["get"], b"nowhere.example"),
        (&["list"], b"unused"),
        (&["version"], b""),
        (&[], b""),
        (&["bogus"], b""),
        (&["--help"], b""),
        (&["doctor", "--help"], b""),
    ];
    for (args, stdin) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = t
            .command(crate::util::BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Best effort: a command that does not read its stdin may close it first.
        let _ = child.stdin.take().unwrap().write_all(stdin);
        let out = crate::util::Out::from(child.wait_with_output().unwrap());
        assert_eq!((out.code, out.stderr.as_str()), (Some(1), ""), "{args:?}");
    }
}
