//! The release artefacts used the way users use them (docs/install.md). The job image of
//! examples/Containerfile, built with buildah from our OCI archive (`COPY --from`) on a base
//! that has only a static busybox, runs a job against the Harbor double: `pre-build`, then
//! `get` answers the job's credentials. The tarball's `install` puts its own binary in place,
//! and the OCI archive is published to a real registry with the docs' one `skopeo copy`.
//!
//! The broker's artefacts are held to its deployment: the image's user, entrypoint, cmd and
//! port are read from deploy/ and compared, so the two cannot drift; its static binary (from
//! the tarball) runs in an empty root, and the image's own binary, extracted with the image's
//! rootfs, serves `/healthz` and `/readyz` there as the Deployment's user with the example
//! config, against the Harbor double and the GitLab issuer double.
//!
//! The artefacts come from `scripts/release`, which scripts/test runs first and names in
//! DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR; without it these tests say they were skipped, and
//! never pass by doing nothing. buildah runs rootful with its own storage under the test's
//! directory, so no image of the host is touched.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use harbor_double::{Config, GitlabIssuer, Harbor};

use crate::util::jobs::{gitlab, start};
use crate::util::registry::TestRegistry;
use crate::util::{Out, TestEnv, assert_static, get_answer, is_root, require, run};

/// The artefacts' name prefixes: the helper's, and the broker's.
const HELPER: &str = "docker-credential-harbor-";
const BROKER: &str = "harbor-broker-";

fn release_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR").map(PathBuf::from);
    if dir.is_none() {
        println!(
            "SKIPPED: DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR is not set; run scripts/release and set it to its dist/"
        );
    }
    dir
}

/// The one artefact in `dir` whose name starts with `prefix` and ends with `suffix`.
fn artefact(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|n| dir.join(n))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{prefix}*{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// The tarball named `prefix…-x86_64-linux.tar.gz` unpacked in the test's directory: the one
/// directory it holds.
fn unpack_tarball(t: &TestEnv, dist: &Path, prefix: &str) -> PathBuf {
    let tarball = artefact(dist, prefix, "-x86_64-linux.tar.gz");
    run(t
        .command(require("tar"))
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&t.dir))
    .success();
    fs::read_dir(&t.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-x86_64-linux"))
        .expect("the unpacked directory")
}

/// buildah with storage of this test's own.
struct Buildah<'a> {
    t: &'a TestEnv,
}

impl Buildah<'_> {
    fn run(&self, args: &[&str]) -> Out {
        let mut cmd = self.t.command(require("buildah"));
        cmd.arg("--root")
            .arg(self.t.path("buildah/root"))
            .arg("--runroot")
            .arg(self.t.path("buildah/run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        run(&mut cmd)
    }
}

/// A base image with nothing but a static busybox as `/bin/sh`, `/tmp` and `/root`: what a
/// minimal job image has, built here because this machine cannot pull one.
fn busybox_base(b: &Buildah, t: &TestEnv) -> &'static str {
    let busybox = require("busybox");
    let elf = run(std::process::Command::new(require("readelf"))
        .arg("-l")
        .arg(&busybox))
    .success();
    assert!(
        !elf.stdout.contains("program interpreter"),
        "busybox must be static (Debian's busybox-static, scripts/lib/deps.sh)"
    );
    let root = t.path("base-root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    let ctr = b.run(&["from", "--quiet", "scratch"]).success();
    let ctr = ctr.stdout.trim();
    b.run(&["copy", "--quiet", ctr, &format!("{}/", root.display()), "/"])
        .success();
    b.run(&["config", "--env", "PATH=/usr/local/bin:/bin", ctr])
        .success();
    b.run(&["commit", "--quiet", ctr, "localhost/dch-test/busybox:1"])
        .success();
    b.run(&["rm", ctr]).success();
    "localhost/dch-test/busybox:1"
}

#[test]
fn a_job_image_with_the_helper_from_our_image_runs_a_job_against_harbor() {
    let Some(dist) = release_dir() else { return };
    if !is_root() {
        println!("SKIPPED: buildah run needs root here");
        return;
    }
    let mut t = TestEnv::new("release-job-image");
    let h = start(&t, false);
    let robot = h.add_robot("proj", "ci", &["pull", "push"], 1);
    t.secret(&robot.secret);
    let b = Buildah { t: &t };
    let base = busybox_base(&b, &t);

    let oci = artefact(&dist, HELPER, "-oci.tar");
    b.run(&["pull", "--quiet", &format!("oci-archive:{}", oci.display())])
        .success();
    let images = b
        .run(&["images", "--format", "{{.Name}}:{{.Tag}}"])
        .success();
    let helper = images
        .stdout
        .lines()
        .find(|l| !l.contains("dch-test"))
        .expect("the pulled image")
        .to_owned();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    b.run(&[
        "bud",
        "--quiet",
        "--isolation",
        "chroot",
        "--build-arg",
        &format!("HELPER_IMAGE={helper}"),
        "--build-arg",
        &format!("BASE={base}"),
        "-t",
        "localhost/dch-test/job:1",
        examples,
    ])
    .success();

    // The job, as the runner runs it in that image: GitLab's variables, the hook, then a
    // client's `get`.
    gitlab(&mut t, &h, &robot.name, &robot.secret, "proj");
    let b = Buildah { t: &t };
    let ctr = b
        .run(&["from", "--quiet", "localhost/dch-test/job:1"])
        .success();
    let ctr = ctr.stdout.trim();
    let mut args = vec!["run", "--isolation", "chroot", "--network", "host"];
    let envs: Vec<String> = [
        "HARBOR_URL",
        "HARBOR_HOST",
        "HARBOR_OCI",
        "HARBOR_PROJECT",
        "HARBOR_USERNAME",
        "HARBOR_PASSWORD",
    ]
    .iter()
    .map(|v| format!("{v}={}", t.var(v).unwrap()))
    .chain([
        "CI=true".to_owned(),
        "HOME=/root".to_owned(),
        "RUNNER_TEMP_PROJECT_DIR=/tmp/job.tmp".to_owned(),
        "DOCKER_CREDENTIAL_HARBOR_CA_FILE=/harbor-ca.crt".to_owned(),
    ])
    .collect();
    for e in &envs {
        args.extend(["--env", e]);
    }
    let ca = format!("{}:/harbor-ca.crt:ro", h.ca_file().display());
    args.extend(["-v", &ca, ctr, "--", "/bin/sh", "-c"]);
    args.push(
        "set -e; mkdir -p /tmp/job.tmp /root; \
         eval \"$(docker-credential-harbor pre-build)\"; \
         printf %s \"$HARBOR_REGISTRY\" | docker-credential-harbor get; \
         docker-credential-harbor post-build",
    );
    let out = b.run(&args).success();
    t.assert_clean(&Out {
        code: out.code,
        stdout: String::new(),
        stderr: out.stderr.clone(),
    });
    out.stderr_has("credentials verified");
    assert_eq!(
        out.stdout,
        get_answer(&h.addr().to_string(), &robot.name, &robot.secret),
        "get in the job image answers the job's credentials"
    );
    assert!(
        h.requests()
            .iter()
            .any(|r| r.path.starts_with("/service/token")),
        "pre-build in the image verified against the double"
    );
    b.run(&["rm", ctr]).success();
}

#[test]
fn the_tarballs_install_puts_its_own_binary_in_place() {
    let Some(dist) = release_dir() else { return };
    let t = TestEnv::new("release-tarball");
    let dir = unpack_tarball(&t, &dist, HELPER);
    for f in [
        "docker-credential-harbor",
        "install",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
    ] {
        assert!(dir.join(f).is_file(), "{f} in the tarball");
    }
    let prefix = t.path("prefix");
    let out = run(t.command(dir.join("install")).arg("--prefix").arg(&prefix)).success();
    out.stdout_has("installed");
    assert_eq!(
        fs::read(prefix.join("bin/docker-credential-harbor")).unwrap(),
        fs::read(dir.join("docker-credential-harbor")).unwrap()
    );
    run(t.command(dir.join("install")).arg("--prefix").arg(&prefix))
        .success()
        .stdout_has("is up to date");
}

/// The docs' one publishing step, `skopeo copy oci-archive:… docker://…`, against a real
/// registry, with the credentials from our own helper (GitLab's variables, credHelpers); the
/// image then reads back with its version label.
#[test]
fn the_oci_archive_is_published_with_one_skopeo_copy_through_the_helper() {
    let Some(dist) = release_dir() else { return };
    let mut t = TestEnv::new("release-publish");
    const USER: &str = "robot$tools+release";
    const PASSWORD: &str = "publish-Pa55";
    t.secret(PASSWORD);
    let reg = TestRegistry::start(&t, &[(USER, PASSWORD)]);
    t.harbor_env(
        &format!("https://{}", reg.addr),
        "robot$$tools+release",
        PASSWORD,
    );
    let auth = t.path("auth.json");
    fs::write(
        &auth,
        format!("{{\"credHelpers\":{{\"{}\":\"harbor\"}}}}", reg.addr),
    )
    .unwrap();
    let oci = artefact(&dist, HELPER, "-oci.tar");
    let image = format!(
        "docker://{}/tools/docker-credential-harbor:release",
        reg.addr
    );
    let mut copy = t.command(require("skopeo"));
    copy.args(["copy", "--dest-authfile"])
        .arg(&auth)
        .arg("--dest-cert-dir")
        .arg(&reg.cert_dir)
        .arg(format!("oci-archive:{}", oci.display()))
        .arg(&image);
    let out = run(&mut copy).success();
    t.assert_clean(&out);
    let mut inspect = t.command(require("skopeo"));
    inspect
        .args(["inspect", "--config", "--authfile"])
        .arg(&auth)
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .arg(&image);
    let out = run(&mut inspect).success();
    let version = env!("CARGO_PKG_VERSION");
    out.stdout_has(&format!(
        "\"org.opencontainers.image.version\": \"{version}\""
    ))
    .stdout_has("\"/docker-credential-harbor\"");
}

/// A file of this repository, as text.
fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value after `key:` on the one line of deploy/kubernetes/deployment.yaml that has it.
fn deployment_value(key: &str) -> String {
    let text = repo_file("deploy/kubernetes/deployment.yaml");
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .collect();
    assert_eq!(found.len(), 1, "{key} in deployment.yaml: {found:?}");
    found[0].to_owned()
}

/// The broker's version, from its Cargo.toml.
fn broker_version() -> String {
    let manifest: toml::Table = repo_file("crates/broker/Cargo.toml").parse().unwrap();
    manifest["package"]["version"].as_str().unwrap().to_owned()
}

/// The port of deploy/harbor-broker.toml's `listen`.
fn example_listen_port() -> u16 {
    let config: toml::Table = repo_file("deploy/harbor-broker.toml").parse().unwrap();
    let listen = config["listen"].as_str().unwrap();
    listen.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The image's config (`skopeo inspect --config`), parsed.
fn image_config(oci: &Path) -> serde_json::Value {
    let out = run(Command::new(require("skopeo"))
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", oci.display())))
    .success();
    serde_json::from_str(&out.stdout).unwrap()
}

/// The image's layers unpacked into `root`, as a runtime would: its files and modes.
fn unpack_image(t: &TestEnv, oci: &Path, root: &Path) {
    let layout = t.path("image-dir");
    run(Command::new(require("skopeo"))
        .args(["copy", "--quiet"])
        .arg(format!("oci-archive:{}", oci.display()))
        .arg(format!("dir:{}", layout.display())))
    .success();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(layout.join("manifest.json")).unwrap()).unwrap();
    fs::create_dir_all(root).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        let blob = layout.join(digest.strip_prefix("sha256:").unwrap());
        run(Command::new(require("tar"))
            .arg("-xpf")
            .arg(&blob)
            .arg("-C")
            .arg(root))
        .success();
    }
}

/// The broker image's config is what deploy/kubernetes/deployment.yaml runs: its command is
/// the image's entrypoint and cmd, its runAsUser and runAsGroup the image's numeric user, its
/// containerPort the image's exposed port and the example config's listen port, its image tag
/// the broker's version; the labels name the broker and its version.
#[test]
fn the_broker_image_runs_as_the_deployment_expects() {
    let Some(dist) = release_dir() else { return };
    let oci = artefact(&dist, BROKER, "-oci.tar");
    let image = image_config(&oci);
    let config = &image["config"];

    let command: Vec<String> = serde_json::from_str(&deployment_value("command")).unwrap();
    let mut argv: Vec<String> = serde_json::from_value(config["Entrypoint"].clone()).unwrap();
    argv.extend(serde_json::from_value::<Vec<String>>(config["Cmd"].clone()).unwrap());
    assert_eq!(argv, command, "the image's entrypoint and cmd: {config}");
    assert_eq!(argv[0], "/harbor-broker");

    let user = format!(
        "{}:{}",
        deployment_value("runAsUser"),
        deployment_value("runAsGroup")
    );
    assert_eq!(config["User"], user.as_str(), "{config}");
    let uid: u32 = deployment_value("runAsUser").parse().unwrap();
    assert_ne!(uid, 0, "the Deployment must not run the broker as root");

    let port: u16 = deployment_value("containerPort").parse().unwrap();
    assert_eq!(
        port,
        example_listen_port(),
        "the example config listens there"
    );
    let ports: Vec<&String> = config["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, [&format!("{port}/tcp")], "{config}");

    let version = broker_version();
    assert_eq!(
        deployment_value("image"),
        format!("harbor-broker:{version}")
    );
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "harbor-broker");
    assert_eq!(labels["org.opencontainers.image.version"], version.as_str());
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        "MIT OR Apache-2.0"
    );
    let revision = labels["org.opencontainers.image.revision"]
        .as_str()
        .unwrap();
    assert_eq!(revision.len(), 40, "a commit: {revision}");
}

/// The broker's tarball holds its static binary (no loader, no library, mode 0755), deploy/
/// as the repository has it, its runbook and the licences; the binary says its version in an
/// empty root.
#[test]
fn the_broker_tarball_holds_a_static_binary_that_runs_in_an_empty_root() {
    let Some(dist) = release_dir() else { return };
    let t = TestEnv::new("release-broker-tarball");
    let dir = unpack_tarball(&t, &dist, BROKER);
    assert!(
        dir.ends_with(format!("harbor-broker-{}-x86_64-linux", broker_version())),
        "{}",
        dir.display()
    );
    let bin = dir.join("harbor-broker");
    assert_eq!(crate::util::mode(&bin) & 0o7777, 0o755);
    for f in [
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "docs/broker.md",
        "docs/kubernetes.md",
    ] {
        assert!(dir.join(f).is_file(), "{f} in the tarball");
    }
    let files = run(Command::new(require("git"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["ls-files", "deploy"]))
    .success();
    assert!(files.stdout.contains("deployment.yaml"), "{}", files.stdout);
    for f in files.stdout.lines() {
        assert_eq!(
            fs::read_to_string(dir.join(f)).unwrap(),
            repo_file(f),
            "{f} in the tarball"
        );
    }

    assert_static(&bin);

    if !is_root() {
        println!("SKIPPED (the empty root): chroot needs root");
        return;
    }
    let root = t.path("root");
    fs::create_dir_all(&root).unwrap();
    fs::copy(&bin, root.join("harbor-broker")).unwrap();
    let out = run(Command::new(require("chroot"))
        .env_clear()
        .arg("--userspec=65532:65532")
        .arg(&root)
        .args(["/harbor-broker", "--version"]))
    .success();
    assert_eq!(out.stdout, format!("harbor-broker {}\n", broker_version()));
}

/// `line` of `text` (the one line that starts with `prefix`) replaced by `with`.
fn replace_line(text: &str, prefix: &str, with: &str) -> String {
    assert_eq!(
        text.lines().filter(|l| l.starts_with(prefix)).count(),
        1,
        "one line starting {prefix:?}"
    );
    text.lines()
        .map(|l| if l.starts_with(prefix) { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file in the image's root, owned by root and readable by the broker's group alone, as a
/// Kubernetes Secret with `fsGroup` is mounted.
fn secret_file(root: &Path, path: &str, from: &Path, gid: u32) {
    let to = root.join(path.trim_start_matches('/'));
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, &to).unwrap();
    std::os::unix::fs::chown(&to, Some(0), Some(gid)).unwrap();
    fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o440)).unwrap();
}

/// The image's own binary, in the image's rootfs and nothing else, started with the image's
/// entrypoint and cmd as the image's user: the example config (deploy/harbor-broker.toml) at
/// the path the cmd names, with only the doubles' addresses, CAs and admin filled in,
/// and the Secrets where the Deployment mounts them. It answers `/healthz`, then `/readyz`
/// (GitLab's keys fetched, Harbor taking its account).
#[test]
fn the_broker_images_binary_serves_healthz_and_readyz_in_its_rootfs() {
    let Some(dist) = release_dir() else { return };
    if !is_root() {
        println!("SKIPPED: chroot and the Secrets' ownership need root");
        return;
    }
    let t = TestEnv::new("release-broker-image-run");
    let h = Harbor::start(&t.path("harbor"), Config::default());
    let audience = "https://harbor-broker.release.test";
    let gitlab = GitlabIssuer::start(&t.path("gitlab"), audience);
    let oci = artefact(&dist, BROKER, "-oci.tar");
    let image = image_config(&oci);
    let config = &image["config"];
    let root = t.path("rootfs");
    unpack_image(&t, &oci, &root);
    let listed: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listed,
        ["harbor-broker"],
        "the image holds the binary alone"
    );

    let mut argv: Vec<String> = serde_json::from_value(config["Entrypoint"].clone()).unwrap();
    argv.extend(serde_json::from_value::<Vec<String>>(config["Cmd"].clone()).unwrap());
    let user = config["User"].as_str().unwrap();
    let gid: u32 = user.split_once(':').unwrap().1.parse().unwrap();

    // The example config, as the ConfigMap carries it, pointed at the doubles.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = repo_file("deploy/harbor-broker.toml");
    let mut text = replace_line(
        &example,
        "listen = ",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    for (prefix, line) in [
        ("issuer = ", format!("issuer = \"{}\"", gitlab.url())),
        ("audience = ", format!("audience = \"{audience}\"")),
        ("url = ", format!("url = \"{}\"", h.url())),
        ("username = ", "username = \"admin\"".to_owned()),
        (
            "# ca_file = \"/run/secrets/harbor-broker/ca/gitlab-ca.pem\"",
            "ca_file = \"/run/secrets/harbor-broker/ca/gitlab-ca.pem\"".to_owned(),
        ),
        (
            "# ca_file = \"/run/secrets/harbor-broker/ca/harbor-ca.pem\"",
            "ca_file = \"/run/secrets/harbor-broker/ca/harbor-ca.pem\"".to_owned(),
        ),
    ] {
        text = replace_line(&text, prefix, &line);
    }
    let parsed: toml::Table = text.parse().unwrap();
    let config_path = root.join(argv.last().unwrap().trim_start_matches('/'));
    fs::create_dir_all(config_path.parent().unwrap()).unwrap();
    fs::write(&config_path, &text).unwrap();
    let path_of = |table: &str, key: &str| parsed[table][key].as_str().unwrap().to_owned();
    let password = t.path("password");
    fs::write(&password, h.password("admin")).unwrap();
    let harbor_dir = t.path("harbor");
    for (path, from) in [
        (path_of("harbor", "password_file"), password),
        (path_of("tls", "cert_file"), harbor_dir.join("server.crt")),
        (path_of("tls", "key_file"), harbor_dir.join("server.key")),
        (path_of("gitlab", "ca_file"), gitlab.ca_file()),
        (path_of("harbor", "ca_file"), h.ca_file()),
    ] {
        secret_file(&root, &path, &from, gid);
    }

    let log = t.path("broker.log");
    let mut child = Command::new(require("chroot"))
        .env_clear()
        .arg(format!("--userspec={user}"))
        .arg(&root)
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(t.path("audit.log")).unwrap())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // curl, trusting the double's CA, which signed the certificate the broker serves.
    let get = |path: &str| {
        run(Command::new(require("curl"))
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg("--cacert")
            .arg(h.ca_file())
            .arg(format!("https://127.0.0.1:{port}{path}")))
    };
    let start = std::time::Instant::now();
    let ready = loop {
        if get("/readyz").stdout == "200" {
            break true;
        }
        if child.try_wait().unwrap().is_some() || start.elapsed().as_secs() > 60 {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let healthz = get("/healthz").stdout;
    let _ = child.kill();
    let _ = child.wait();
    let said = fs::read_to_string(&log).unwrap();
    assert!(ready, "the broker never became ready: {said}");
    assert_eq!(healthz, "200", "{said}");
}
