//! Two clients found in the field, after `pre-build` in a job shell against the Harbor double
//! and its real registry: the docker SDK for Python (Debian's python3-docker, used by
//! docker-compose 1.x and Ansible's docker modules) resolving credentials itself through
//! `credHelpers` and `credsStore`, and pulling and pushing through a real dockerd; and rootless
//! podman run by an unprivileged runner user (`dch-runner`, subuid/subgid, vfs), as a shell
//! executor's `gitlab-runner` runs it. Negative controls show the same requests refused
//! without the hook. No test may put a secret in argv, output or a file it leaves behind, and
//! none may start a process it does not stop.

use std::fs;
use std::path::Path;
use std::process::Command;

use harbor_double::Harbor;

use crate::util::dockerd::Dockerd;
use crate::util::jobs::{gitlab, job, start, use_ca_file};
use crate::util::{Out, TestEnv, is_root, require, run};

/// Debian's interpreter in isolated mode (-I): Debian's python3-docker, not a docker package
/// some other Python on PATH or in PYTHONPATH/user site brings.
const PYTHON: &str = "/usr/bin/python3";

/// docker-py's own resolution, as `APIClient` does it before a pull or push: load the config
/// (DOCKER_CONFIG, else ~/.docker/config.json), pick the store for the registry, run
/// `docker-credential-<store> get`. Writes what it found to argv[2] (the test reads and
/// deletes it), so the password never reaches stdout.
const RESOLVE_PY: &str = r#"import json, sys
import docker.auth
reg, out = sys.argv[1], sys.argv[2]
cfg = docker.auth.load_config()
found = {"store": cfg.get_credential_store(reg), "credsStore": cfg.creds_store,
         "credHelpers": cfg.cred_helpers, "auths": list(cfg.auths), "auth": cfg.resolve_authconfig(reg)}
with open(out, "w") as f:
    json.dump(found, f)
"#;

/// Pull, tag and push through dockerd with docker-py's high-level client and no auth_config:
/// docker-py resolves the credentials itself and hands them to the daemon (X-Registry-Auth).
/// Push errors come back in the stream, not as exceptions.
const PULL_PUSH_PY: &str = r#"import sys
import docker
repo = sys.argv[1]
client = docker.from_env()
image = client.images.pull(repo, tag="v1")
image.tag(repo, tag="dockerpy")
for line in client.images.push(repo, tag="dockerpy", stream=True, decode=True):
    if "error" in line:
        sys.exit("push failed: " + line["error"])
print("pulled", image.id)
"#;

/// The runner user rootless podman runs as.
const RUNNER: &str = "dch-runner";

/// Writes `text` to tmp/`name`; the command line that runs it with Debian's interpreter.
fn python(t: &TestEnv, name: &str, text: &str) -> String {
    let file = t.path(&format!("tmp/{name}"));
    fs::write(&file, text).unwrap();
    format!("{PYTHON} -I {}", file.display())
}

fn version(cmd: &mut Command) -> String {
    run(cmd).success().stdout.trim().to_owned()
}

/// Reads and deletes what RESOLVE_PY wrote (it holds the password).
fn resolved(t: &TestEnv, name: &str) -> serde_json::Value {
    let file = t.path(&format!("tmp/{name}"));
    let v = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    fs::remove_file(file).unwrap();
    v
}

/// Whether the double saw `tag` pushed (a manifest PUT the registry accepted).
fn pushed(h: &Harbor, tag: &str) -> bool {
    h.requests().iter().any(|r| {
        r.method == "PUT" && r.status == 201 && r.path.ends_with(&format!("/manifests/{tag}"))
    })
}

#[test]
fn docker_py_resolves_the_jobs_credentials_through_cred_helpers_and_creds_store() {
    require(PYTHON);
    assert!(
        Path::new("/usr/lib/python3/dist-packages/docker/auth.py").is_file(),
        "python3-docker is not installed; run scripts/test, which installs every tool the tests use"
    );
    let mut t = TestEnv::new("field-docker-py");
    let h = start(&t, true);
    t.containers_env();
    t.make_image();
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    let password = h.password("alice");
    let addr = h.addr();
    println!(
        "python3-docker {}",
        version(
            t.command(PYTHON)
                .args(["-I", "-c", "import docker; print(docker.__version__)"])
        )
    );
    // A user whose config names the helper as the default store (docker-compose setups do).
    fs::create_dir_all(t.path("tmp/creds-store")).unwrap();
    fs::write(
        t.path("tmp/creds-store/config.json"),
        "{\"credsStore\":\"harbor\"}\n",
    )
    .unwrap();
    let resolve = python(&t, "resolve.py", RESOLVE_PY);
    let mut lines = vec![
        format!("{resolve} \"$HARBOR_REGISTRY\" \"$TMPDIR/cred-helpers.json\""),
        format!(
            "DOCKER_CONFIG=\"$TMPDIR/creds-store\" {resolve} \"$HARBOR_REGISTRY\" \"$TMPDIR/creds-store.json\""
        ),
    ];
    let daemon = Dockerd::start(&t);
    match &daemon {
        Ok(d) => {
            // Seeded through the helper too (auth.json); root reads no CA from $HOME, so --dest-cert-dir.
            let certs = t.path(&format!("harbor/certs.d/{addr}"));
            lines.push(format!(
                "skopeo copy --format v2s2 --dest-cert-dir {} oci:{}:v1 docker://$HARBOR_REGISTRY/proj/app:v1",
                certs.display(),
                t.path("img").display()
            ));
            lines.push(format!(
                "DOCKER_HOST={} {} \"$HARBOR_REGISTRY/proj/app\"",
                d.host,
                python(&t, "pull_push.py", PULL_PUSH_PY)
            ));
        }
        Err(why) => println!("dockerd part skipped: {why}"),
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = job(&t, "dash", false, &refs).success();

    // credHelpers: the entry pre-build wrote into the job's DOCKER_CONFIG, no plaintext auths.
    let found = resolved(&t, "cred-helpers.json");
    assert_eq!(found["store"], "harbor", "{found}");
    assert_eq!(found["credHelpers"][&addr], "harbor", "{found}");
    assert_eq!(found["auths"], serde_json::json!([]), "{found}");
    let auth = &found["auth"];
    assert_eq!(auth["ServerAddress"], addr.as_str());
    assert_eq!(auth["Username"], "alice");
    assert!(
        auth["Password"] == password.as_str(),
        "not alice's password"
    );
    // credsStore: no credHelpers at all, so only the default store can have answered.
    let found = resolved(&t, "creds-store.json");
    assert_eq!(found["credsStore"], "harbor");
    assert_eq!(found["credHelpers"], serde_json::json!({}));
    assert_eq!(found["auth"]["Username"], "alice", "{}", found["auth"]);
    assert!(
        found["auth"]["Password"] == password.as_str(),
        "not alice's password"
    );

    if let Ok(d) = &daemon {
        out.stdout_has("pulled sha256:");
        assert!(pushed(&h, "dockerpy"), "docker-py pushed through dockerd");
        // Negative control: the same pull without the hook's config is refused.
        fs::create_dir_all(t.path("tmp/empty")).unwrap();
        let out = t.run_clean(
            t.command(PYTHON)
                .args(["-I", &t.path("tmp/pull_push.py").display().to_string()])
                .arg(format!("{addr}/proj/app"))
                .env("DOCKER_HOST", &d.host)
                .env("DOCKER_CONFIG", t.path("tmp/empty")),
            b"",
        );
        assert!(!out.ok(), "pulled without credentials: {out:?}");
        // dockerd's words for an anonymous pull of a private repository.
        out.stderr_has("pull access denied");
    }
    // After post-build, docker-py's default config names no helper: nothing resolves, though
    // the HARBOR_* variables are still set (the helper would answer from them).
    let mut cmd = t.command(PYTHON);
    cmd.arg("-I")
        .arg(t.path("tmp/resolve.py"))
        .arg(&addr)
        .arg(t.path("tmp/after.json"));
    t.run_clean(&mut cmd, b"").success();
    assert_eq!(resolved(&t, "after.json")["auth"], serde_json::Value::Null);
    drop(daemon);
    t.scan_files(&[]);
}

/// The runner user's uid and gid: created when missing, with subordinate ids for rootless podman.
fn runner_user() -> (u32, u32) {
    if !run(Command::new("id").arg(RUNNER)).ok() {
        // useradd allocates /etc/subuid and /etc/subgid ranges itself (login.defs SUB_*).
        let out = run(Command::new(require("useradd")).args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            RUNNER,
        ]));
        // A parallel run may have created it meanwhile.
        assert!(out.ok() || out.stderr.contains("already exists"), "{out:?}");
    }
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.split(':').next() == Some(RUNNER)) {
            continue;
        }
        // After every range already given out, so no two users share ids.
        let end = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':').skip(1).map(|n| n.parse::<u64>().ok());
                Some(f.next()?? + f.next()??)
            })
            .max()
            .unwrap_or(100_000)
            .max(100_000);
        let range = format!("{end}-{}", end + 65_535);
        run(Command::new(require("usermod")).args([flag, &range, RUNNER])).success();
    }
    let id = |flag: &str| -> u32 {
        let out = run(Command::new("id").args([flag, RUNNER])).success();
        out.stdout.trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// Stops rootless podman's pause process (it holds the user namespace and outlives podman),
/// by the pid podman wrote under containers.conf's tmp_dir.
struct PauseProcess<'a>(&'a TestEnv);

impl Drop for PauseProcess<'_> {
    fn drop(&mut self) {
        let Ok(pid) = fs::read_to_string(self.0.path("c/tmp/pause.pid")) else {
            return;
        };
        let pid = pid.trim();
        // It renames itself "podman pause"; check, so a reused pid is never killed.
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.starts_with("podman") {
            let _ = run(Command::new("kill").arg(pid));
        }
    }
}

#[test]
fn rootless_podman_as_the_runner_user_pushes_and_pulls_through_the_hooks() {
    if !is_root() {
        println!("skipped: creating the runner user and running its job needs root");
        return;
    }
    require("newuidmap");
    let (uid, gid) = runner_user();
    let mut t = TestEnv::new("field-podman-rootless");
    let h = start(&t, true);
    t.containers_env();
    t.make_image();
    gitlab(&mut t, &h, "alice", &h.password("alice"), "proj");
    // The CA the way the runner config gives it; pre-build places it in the user's certs.d.
    use_ca_file(&mut t, &h);
    fs::create_dir_all(t.path("xdg")).unwrap();
    fs::set_permissions(
        t.path("xdg"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    t.set("XDG_RUNTIME_DIR", t.path("xdg"));
    t.give_to(uid, gid, &["home", "tmp", "build.tmp", "img", "c", "xdg"]);
    println!("{}", version(t.command(require("podman")).arg("--version")));
    let _pause = PauseProcess(&t);
    let addr = h.addr();
    let img = t.path("img").display().to_string();
    let pm = "podman --storage-driver vfs";
    let home_certs = "$HOME/.config/containers/certs.d/$HARBOR_REGISTRY";

    // The job: a local image, then push, forget and pull it back with only what pre-build set up.
    let script = format!(
        "set -e\n\
         test \"$(id -u)\" = {uid}\n\
         id=$({pm} pull -q oci:{img}:v1)\n\
         {pm} tag \"$id\" localhost/app:v1\n\
         eval \"$(docker-credential-harbor pre-build)\"\n\
         test -f \"$REGISTRY_AUTH_FILE\"\n\
         test -f {home_certs}/docker-credential-harbor.crt\n\
         test -f \"$HOME/.config/docker/certs.d/$HARBOR_REGISTRY/docker-credential-harbor.crt\"\n\
         printf '%s\\n' \"$REGISTRY_AUTH_FILE\" \"$DOCKER_CONFIG\" > \"$TMPDIR/made\"\n\
         {pm} push -q localhost/app:v1 \"$HARBOR_REGISTRY/$HARBOR_PROJECT/app:rootless\"\n\
         {pm} rmi -f \"$HARBOR_REGISTRY/$HARBOR_PROJECT/app:rootless\" > /dev/null 2>&1 || true\n\
         if {pm} image exists \"$HARBOR_REGISTRY/$HARBOR_PROJECT/app:rootless\"; then exit 3; fi\n\
         {pm} pull -q \"$HARBOR_REGISTRY/$HARBOR_PROJECT/app:rootless\" > /dev/null\n\
         {pm} image exists \"$HARBOR_REGISTRY/$HARBOR_PROJECT/app:rootless\"\n\
         docker-credential-harbor post-build\n\
         test ! -e {home_certs}\n"
    );
    let out = t.run_as(uid, gid, &script);
    assert!(out.ok(), "{out:?}");
    out.stderr_has("alice may pull from and push to proj");
    assert!(pushed(&h, "rootless"), "podman pushed through the double");
    assert!(
        h.requests().iter().any(|r| r.method == "GET"
            && r.status == 200
            && r.path.ends_with("/manifests/rootless")),
        "podman pulled through the double"
    );
    // post-build removed what pre-build made: the per-job files and the placed CA.
    let made = fs::read_to_string(t.path("tmp/made")).unwrap();
    for f in made.lines() {
        assert!(!Path::new(f).exists(), "{f} left behind");
    }
    assert!(!t.path("build.tmp/docker-credential-harbor").exists());
    for d in ["containers/certs.d", "docker"] {
        let p = t.path(&format!("home/.config/{d}"));
        assert!(!p.exists(), "{} left behind", p.display());
    }
    let leases: serde_json::Value = serde_json::from_slice(
        &fs::read(t.path("home/.local/share/docker-credential-harbor/leases.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        leases["leases"],
        serde_json::json!([]),
        "a lease is still held"
    );

    // Negative control: the same push without the hook (the CA given by hand) is refused.
    let certs = t.path(&format!("harbor/certs.d/{addr}"));
    let script = format!(
        "{pm} push -q --cert-dir {} localhost/app:v1 {addr}/proj/app:anonymous\n",
        certs.display()
    );
    let out: Out = t.run_as(uid, gid, &script);
    assert!(!out.ok(), "pushed without credentials: {out:?}");
    // The double's words for a token without push (the anonymous one).
    assert!(
        out.stderr
            .contains("requested access to the resource is denied"),
        "refused for another reason: {}",
        out.stderr
    );
    assert!(!pushed(&h, "anonymous"));
    t.scan_files(&[]);
}
