//! The store under stress and abuse: 48 parallel logins, 60 writers killed by SIGKILL, a
//! corrupt file, file modes, an unwritable home. It must lose nothing it had and say clearly
//! what went wrong.

use std::fs;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{TestEnv, get_answer, is_root, mode, run, store_json};

#[test]
fn forty_eight_parallel_stores_lose_nothing() {
    let t = TestEnv::new("parallel48");
    let children: Vec<_> = (0..48)
        .map(|i| {
            t.spawn_helper(
                &["store"],
                store_json(
                    &format!("reg{i}.example:5000"),
                    &format!("user{i}"),
                    &format!("pw{i}"),
                )
                .as_bytes(),
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
    }
    let list: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&t.helper(&["list"], b"unused").success().stdout).unwrap();
    assert_eq!(list.len(), 48);
    for i in 0..48 {
        let host = format!("reg{i}.example:5000");
        assert_eq!(list[&host], format!("user{i}"));
        assert_eq!(
            t.helper(&["get"], host.as_bytes()).success().stdout,
            get_answer(&host, &format!("user{i}"), &format!("pw{i}"))
        );
    }
    assert_eq!(mode(&t.store_path()), 0o600);
    assert_eq!(mode(t.store_path().parent().unwrap()), 0o700);
}

/// A small xorshift generator: the kill moments vary per run, and the seed is printed so a
/// failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sixty_stores_killed_at_random_moments_leave_a_readable_store() {
    use std::os::unix::process::ExitStatusExt;
    let t = TestEnv::new("sigkill60");
    // A large store makes each write take milliseconds, so kills land inside the write
    // (serialise, write, fsync, rename), not only before or after it.
    let padding: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                "\"pad{i}.example\":{{\"username\":\"u\",\"secret\":\"{}\"}}",
                "x".repeat(40)
            )
        })
        .collect();
    crate::util::write_mode(
        &t.store_path(),
        &format!("{{\"version\":1,\"registries\":{{{}}}}}", padding.join(",")),
        0o600,
    );
    for i in 0..10 {
        t.store(&format!("earlier{i}.example"), "u", &format!("earlier-{i}"))
            .success();
    }
    let started = std::time::Instant::now();
    t.store("timing.example", "u", "p").success();
    let one_store = started.elapsed().as_micros() as u64;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("sigkill seed {seed}, one store takes {one_store} µs");
    let mut rng = Rng(seed);
    let mut killed = 0;
    for i in 0..60 {
        let mut child = t.spawn_helper(
            &["store"],
            store_json(&format!("victim{i}.example"), "v", &format!("v-{i}")).as_bytes(),
        );
        std::thread::sleep(Duration::from_micros(rng.next() % (one_store * 3 / 2)));
        let _ = child.kill();
        if child.wait().unwrap().signal() == Some(9) {
            killed += 1;
        }
        // After kills the store must parse and still hold every earlier entry.
        if i % 6 == 5 {
            let out = t.helper(&["list"], b"unused").success();
            let list: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&out.stdout).unwrap();
            assert!(
                list.len() >= 5011,
                "entries lost after kill {i} (seed {seed})"
            );
            for e in 0..10 {
                assert!(
                    list.contains_key(&format!("earlier{e}.example")),
                    "lost earlier{e} after kill {i} (seed {seed})"
                );
            }
        }
    }
    eprintln!("{killed} of 60 writers were killed before they exited");
    assert!(
        killed > 0,
        "no writer was killed: the test did not test anything (seed {seed})"
    );
    for e in 0..10 {
        let host = format!("earlier{e}.example");
        assert_eq!(
            t.helper(&["get"], host.as_bytes()).success().stdout,
            get_answer(&host, "u", &format!("earlier-{e}"))
        );
    }
    // Whatever a killed writer left behind is cleaned up by the next successful one.
    t.store("after.example", "u", "p").success();
    let names: Vec<String> = fs::read_dir(t.store_path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temp files left: {names:?}"
    );
    assert_eq!(mode(&t.store_path()), 0o600);
}

#[test]
fn a_corrupt_store_is_kept_reported_and_does_not_block_the_environment() {
    let mut t = TestEnv::new("corrupt");
    t.store("kept.example", "u", "p").success();
    let junk = "{\"version\":1,\"registries\":{\"kept.example\":{\"username\":\"u\",\"secret\":\"TOPSECRET";
    fs::write(t.store_path(), junk).unwrap();
    t.secret("TOPSECRET");
    for (verb, input) in [
        ("store", store_json("new.example", "u", "p")),
        ("erase", "kept.example".into()),
        ("get", "kept.example".into()),
        ("list", "unused".into()),
    ] {
        let out = t.helper(&[verb], input.as_bytes());
        assert_eq!(out.code, Some(1), "{verb}");
        assert!(
            out.stdout.contains("is corrupt")
                && out.stdout.contains(&t.store_path().display().to_string()),
            "{verb}: {}",
            out.stdout
        );
        assert!(out.stdout.contains("left untouched"), "{}", out.stdout);
        t.assert_clean(&out);
    }
    assert_eq!(
        fs::read_to_string(t.store_path()).unwrap(),
        junk,
        "a corrupt store is never overwritten"
    );
    // Hosts the environment serves still work: the store is not even read for them.
    t.harbor_env("https://harbor.example.com", "robot$ci", "env-pw");
    let out = t.helper(&["get"], b"harbor.example.com").success();
    assert_eq!(
        out.stdout,
        get_answer("harbor.example.com", "robot$ci", "env-pw")
    );
}

#[test]
fn an_unwritable_home_gives_a_clear_error_and_changes_nothing() {
    let mut t = TestEnv::new("readonly-home");
    let home = t.path("home");
    let mut base = Command::new("sh");
    if is_root() {
        // Root ignores file modes: run the helper as nobody on a root-owned home.
        fs::set_permissions(&t.dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        base = Command::new("setpriv");
        base.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"]);
    } else {
        fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    }
    t.secret("ro-pw");
    let mut cmd = t.command(base.get_program());
    cmd.args(base.get_args()).arg("-c").arg(format!(
        "printf '%s' '{}' | {} store",
        store_json("h.example", "u", "ro-pw").trim(),
        crate::util::BIN
    ));
    let out = run(&mut cmd);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout
            .contains("cannot create the credential store directory"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("DOCKER_CREDENTIAL_HARBOR_STORE"),
        "{}",
        out.stdout
    );
    t.assert_clean(&out);
    fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(!t.path("home/.local").exists());
    // The documented way out works.
    t.set("DOCKER_CREDENTIAL_HARBOR_STORE", t.path("tmp/store.json"));
    t.store("h.example", "u", "ro-pw").success();
    assert_eq!(mode(&t.path("tmp/store.json")), 0o600);
}

#[test]
fn a_store_path_under_a_file_is_reported() {
    let mut t = TestEnv::new("store-under-file");
    fs::write(t.path("tmp/file"), "").unwrap();
    t.set(
        "DOCKER_CREDENTIAL_HARBOR_STORE",
        t.path("tmp/file/credentials.json"),
    );
    let out = t.store("h.example", "u", "p");
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout
            .contains("cannot create the credential store directory")
            && out.stdout.contains("tmp/file: File exists"),
        "{}",
        out.stdout
    );
}

#[test]
fn store_file_format_is_documented_json() {
    let t = TestEnv::new("format");
    t.store("https://Harbor.Example.com:443/", "robot$ci", "pw")
        .success();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(t.store_path()).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"version": 1, "registries": {"harbor.example.com": {"username": "robot$ci", "secret": "pw"}}})
    );
}

#[test]
fn without_home_the_store_asks_for_home_or_the_store_variable() {
    let mut t = TestEnv::new("no-home");
    t.unset("HOME");
    // setpriv as a uid with no passwd entry makes the passwd fallback fail too.
    if !is_root() {
        eprintln!("skipped: needs root to run as a uid without a passwd entry");
        return;
    }
    let mut cmd = t.command("setpriv");
    cmd.args([
        "--reuid=54321",
        "--regid=54321",
        "--clear-groups",
        crate::util::BIN,
        "store",
    ]);
    let out = crate::util::run_with_stdin(&mut cmd, store_json("h.example", "u", "p").as_bytes());
    assert_eq!(out.code, Some(1));
    assert!(
        out.stdout.contains("HOME is not set")
            && out.stdout.contains("DOCKER_CREDENTIAL_HARBOR_STORE"),
        "{}",
        out.stdout
    );
}
