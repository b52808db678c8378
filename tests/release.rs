//! The release artefacts used the way users use them (docs/install.md). The job image of
//! examples/Containerfile, built with buildah from our OCI archive (`COPY --from`) on a base
//! that has only a static busybox, runs a job against the Harbor double: `pre-build`, then
//! `get` answers the job's credentials. The tarball's `install` puts its own binary in place,
//! and the OCI archive is published to a real registry with the docs' one `skopeo copy`.
//!
//! The artefacts come from `scripts/release`, which scripts/test runs first and names in
//! DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR; without it these tests say they were skipped, and
//! never pass by doing nothing. buildah runs rootful with its own storage under the test's
//! directory, so no image of the host is touched.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::util::jobs::{gitlab, start};
use crate::util::registry::TestRegistry;
use crate::util::{Out, TestEnv, get_answer, is_root, require, run};

fn release_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR").map(PathBuf::from);
    if dir.is_none() {
        println!(
            "SKIPPED: DOCKER_CREDENTIAL_HARBOR_RELEASE_DIR is not set; run scripts/release and set it to its dist/"
        );
    }
    dir
}

/// The one artefact in `dir` whose name ends with `suffix`.
fn artefact(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
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

    let oci = artefact(&dist, "-oci.tar");
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
    let tarball = artefact(&dist, "-x86_64-linux.tar.gz");
    run(t
        .command(require("tar"))
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&t.dir))
    .success();
    let dir = fs::read_dir(&t.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-x86_64-linux"))
        .expect("the unpacked directory");
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
    let oci = artefact(&dist, "-oci.tar");
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
