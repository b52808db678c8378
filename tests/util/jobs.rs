//! A CI job as the GitLab runner runs it, against the Harbor double: GitLab's variables, the
//! documented hook lines around the job's own lines, under dash, bash or busybox sh. Shared by
//! every test module that runs a job; no test module imports another.

use std::fs;

use harbor_double::{Config, Harbor};

use super::{Out, TestEnv, require, run};

pub const SHELLS: [&str; 3] = ["dash", "bash", "busybox sh"];

/// Writes the runner-style script and runs it under `shell` with stdin closed.
pub fn job(t: &TestEnv, shell: &str, xtrace: bool, lines: &[&str]) -> Out {
    run_job(t, shell, xtrace, lines, false)
}

/// As [`job`], as root in a private mount namespace whose `/etc/docker` and `/etc/containers`
/// are empty tmpfs (plus a policy.json), so pre-build's CA placement in `/etc/*/certs.d` is
/// real for the clients and the host's `/etc` is never touched.
pub fn job_with_private_etc(t: &TestEnv, lines: &[&str]) -> Out {
    run_job(t, "bash", false, lines, true)
}

fn run_job(t: &TestEnv, shell: &str, xtrace: bool, lines: &[&str], private_etc: bool) -> Out {
    let mut script = String::new();
    if private_etc {
        script.push_str(
            "mount -t tmpfs tmpfs /etc/docker && mount -t tmpfs tmpfs /etc/containers || exit 99\n\
             printf '{\"default\":[{\"type\":\"insecureAcceptAnything\"}]}' > /etc/containers/policy.json\n",
        );
    }
    script.push_str("set -e\n");
    if shell == "bash" {
        script.push_str("set -o pipefail\n");
    }
    if xtrace {
        script.push_str("set -x\n");
    }
    script.push_str(&pre_hook("docker-credential-harbor"));
    script.push('\n');
    for l in lines {
        script.push_str(l);
        script.push('\n');
    }
    script.push_str("docker-credential-harbor post-build\n");
    let file = t.path("tmp/job.sh");
    fs::write(&file, script).unwrap();
    let mut words = shell.split(' ');
    let mut cmd = if private_etc {
        let mut c = t.command(require("unshare"));
        c.args(["--mount", "--propagation", "private"])
            .arg(require(words.next().unwrap()));
        c
    } else {
        t.command(require(words.next().unwrap()))
    };
    cmd.args(words).arg(&file);
    let out = run(&mut cmd);
    t.assert_clean(&out);
    out
}

/// GitLab's variables for `user` on `project`, as a current GitLab sets them, plus what the
/// runner adds (CI, CI_JOB_ID, RUNNER_TEMP_PROJECT_DIR). The double's CA is trusted through the
/// user's containers certs.d, not DOCKER_CREDENTIAL_HARBOR_CA_FILE: pre-build run as root
/// would place that in the host's /etc (tests that test placement use [`use_ca_file`] in a
/// private mount namespace or as another user).
pub fn gitlab(t: &mut TestEnv, h: &Harbor, user: &str, password: &str, project: &str) {
    // GitLab escapes a leading robot$ as robot$$ (docs/gitlab-runner.md#what-the-hooks-do);
    // raw variables keep it.
    t.harbor_env(
        &format!("{}/", h.url()),
        &user.replacen("robot$", "robot$$", 1),
        password,
    );
    let build_tmp = t.path("build.tmp");
    t.set("HARBOR_HOST", "127.0.0.1")
        .set("HARBOR_OCI", format!("oci://{}/", h.addr()))
        .set("HARBOR_PROJECT", project)
        .set("CI", "true")
        .set("CI_JOB_ID", "4242")
        .set("RUNNER_TEMP_PROJECT_DIR", &build_tmp);
    fs::create_dir_all(t.path("build.tmp")).unwrap();
    trust_in_home(t, h);
}

/// Trusts the double's CA the way rootless podman users do: `~/.config/containers/certs.d`.
pub fn trust_in_home(t: &TestEnv, h: &Harbor) {
    let file = t.path(&format!(
        "home/.config/containers/certs.d/{}/ca.crt",
        h.addr()
    ));
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::copy(h.ca_file(), file).unwrap();
}

/// Switches to DOCKER_CREDENTIAL_HARBOR_CA_FILE, for tests of pre-build's CA placement.
pub fn use_ca_file(t: &mut TestEnv, h: &Harbor) {
    let _ = fs::remove_dir_all(t.path("home/.config/containers/certs.d"));
    t.set("DOCKER_CREDENTIAL_HARBOR_CA_FILE", h.ca_file());
}

pub fn start(t: &TestEnv, registry: bool) -> Harbor {
    Harbor::start(
        &t.path("harbor"),
        Config {
            registry,
            ..Config::default()
        },
    )
}

/// `printf` of each variable into a file the test reads back, separated by `|`.
pub fn dump(vars: &[&str]) -> String {
    let refs: Vec<String> = vars.iter().map(|v| format!("\"${{{v}-unset}}\"")).collect();
    format!("printf '%s|' {} > \"$TMPDIR/vars.out\"", refs.join(" "))
}

/// The documented pre_build_script for the binary at `path` (README, docs/gitlab-runner.md,
/// docs/install.md): a missing or crashing binary is said in the job log, and fails the job
/// under strict.
pub fn pre_hook(path: &str) -> String {
    format!(
        "eval \"$({path} pre-build || {{ echo \"docker-credential-harbor pre-build failed (exit $?): this job has no Harbor login from it\" >&2; [ \"${{DOCKER_CREDENTIAL_HARBOR_VERIFY-}}\" != strict ] || echo false; }})\""
    )
}

/// pam (project admin) as the integration's account, job robots on.
pub fn pam_job(name: &str, registry: bool) -> (TestEnv, Harbor) {
    let t = TestEnv::new(name);
    let h = start(&t, registry);
    pam_job_on(t, h)
}

pub fn pam_job_on(mut t: TestEnv, h: Harbor) -> (TestEnv, Harbor) {
    gitlab(&mut t, &h, "pam", &h.password("pam"), "proj");
    t.set("DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT", "1")
        .set(
            "CI_JOB_URL",
            "https://gitlab.example.com/group/app/-/jobs/4242",
        )
        .set("CI_PROJECT_PATH", "group/app");
    (t, h)
}
