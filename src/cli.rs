//! argv to a [`Command`]: what the user or client typed, validated, with no I/O.
//!
//! Protocol verbs stay positional and alone, exactly as clients call them (protocol.md §1.0:
//! argv is `[program, VERB]`). Subcommands sit beside them. No secret is ever taken from argv.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::client_config::Client;
use crate::env::VARIABLES;
use crate::protocol::{Call, Verb};

/// `configure`'s arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigureArgs {
    pub clients: Vec<Client>,
    pub migrate: bool,
    pub registries: Vec<String>,
}

/// What argv asks for: the protocol, which the core answers alone, or a subcommand.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// What the credential-helper protocol answers by itself, from the core: `get`, `store`,
    /// `erase`, `list`, `version`, the usage line, an unknown action.
    Protocol(Call),
    Sub(Subcommand),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Subcommand {
    /// `--help`, `-h`, `help`.
    Help,
    /// `doctor`: check the variables and Harbor, one line per check.
    Doctor,
    /// `doctor --runner-config FILE [--registry HOST[:PORT]]`: check a runner's config.toml.
    DoctorRunner {
        config: PathBuf,
        registry: Option<String>,
    },
    /// `pre-build`: the runner's pre_build_script.
    PreBuild { job_robot: bool },
    /// `install-hooks --runner-config FILE [--job-path PATH] [--registry HOST[:PORT]]`: what
    /// `scripts/install` runs to add the hook lines to a runner's config.toml.
    InstallHooks {
        config: PathBuf,
        job_path: Option<String>,
        registry: Option<String>,
    },
    /// `robots prune [--older-than HOURS] [--dry-run]`.
    RobotsPrune {
        older_than_hours: u64,
        dry_run: bool,
    },
    /// Internal: the job robot's keeper, started by pre-build.
    RobotKeeper,
    /// `post-build`: the runner's post_build_script.
    PostBuild,
    /// `configure [--docker] [--podman] [--helm] [--kaniko] [--migrate] [REGISTRY...]`.
    Configure(ConfigureArgs),
    /// `<subcommand> --help`.
    SubcommandHelp(&'static str),
    /// A subcommand with arguments it does not take.
    BadArguments(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Command {
    let Some(first) = args.first() else {
        return Command::Protocol(Call::Usage);
    };
    let word = first.to_string_lossy();
    let alone = args.len() == 1;
    let rest: Vec<String> = args[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let sub = match word.as_ref() {
        "doctor" => parse_doctor(&rest),
        "pre-build" => match rest
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] => Subcommand::PreBuild { job_robot: false },
            ["--job-robot"] => Subcommand::PreBuild { job_robot: true },
            ["--help" | "-h", ..] => Subcommand::SubcommandHelp(PRE_BUILD_HELP),
            [other, ..] => Subcommand::BadArguments(format!(
                "pre-build: unknown argument {other:?}; see pre-build --help"
            )),
        },
        "robots" => parse_robots(&rest),
        "install-hooks" => parse_install_hooks(&rest),
        "robot-keeper" if rest.is_empty() => Subcommand::RobotKeeper,
        "post-build" => no_arguments("post-build", &rest, POST_BUILD_HELP, Subcommand::PostBuild),
        "configure" => parse_configure(&rest),
        "help" | "--help" | "-h" => Subcommand::Help,
        "version" | "--version" | "-v" if alone => return Command::Protocol(Call::Version),
        w => {
            return Command::Protocol(match Verb::parse(w) {
                Some(verb) if alone => Call::Verb(verb),
                Some(_) => Call::Usage,
                None if matches!(w, "version" | "--version" | "-v") => Call::Usage,
                None => Call::UnknownAction(w.to_owned()),
            });
        }
    };
    Command::Sub(sub)
}

fn no_arguments(
    name: &str,
    rest: &[String],
    help: &'static str,
    command: Subcommand,
) -> Subcommand {
    match rest.first().map(String::as_str) {
        None => command,
        Some("--help" | "-h") => Subcommand::SubcommandHelp(help),
        Some(other) => Subcommand::BadArguments(format!(
            "{name} takes no arguments (got {other:?}); see {name} --help"
        )),
    }
}

/// The `--name VALUE` options of `command`, by their position in `names`; `--help` and
/// anything else end the parse with what to run instead.
fn options<const N: usize>(
    command: &str,
    rest: &[String],
    names: [&str; N],
    help: &'static str,
) -> Result<[Option<String>; N], Subcommand> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut words = rest.iter().map(String::as_str);
    while let Some(w) = words.next() {
        if matches!(w, "--help" | "-h") {
            return Err(Subcommand::SubcommandHelp(help));
        }
        let Some(i) = names.iter().position(|n| *n == w) else {
            return Err(Subcommand::BadArguments(format!(
                "{command}: unknown argument {:?}; see {command} --help",
                crate::text::inline(w)
            )));
        };
        match words.next() {
            Some(v) => values[i] = Some(v.to_owned()),
            None => {
                return Err(Subcommand::BadArguments(format!(
                    "{command}: {w} needs a value"
                )));
            }
        }
    }
    Ok(values)
}

fn parse_doctor(rest: &[String]) -> Subcommand {
    let names = ["--runner-config", "--registry"];
    let [config, registry] = match options("doctor", rest, names, DOCTOR_HELP) {
        Ok(values) => values,
        Err(instead) => return instead,
    };
    match (config, registry) {
        (None, None) => Subcommand::Doctor,
        (Some(c), registry) => Subcommand::DoctorRunner {
            config: PathBuf::from(c),
            registry,
        },
        (None, Some(_)) => Subcommand::BadArguments(
            "doctor: --registry goes with --runner-config FILE; see doctor --help".into(),
        ),
    }
}

fn parse_install_hooks(rest: &[String]) -> Subcommand {
    let names = ["--runner-config", "--job-path", "--registry"];
    let [config, job_path, registry] =
        match options("install-hooks", rest, names, INSTALL_HOOKS_HELP) {
            Ok(values) => values,
            Err(instead) => return instead,
        };
    match config {
        Some(c) => Subcommand::InstallHooks {
            config: PathBuf::from(c),
            job_path,
            registry,
        },
        None => Subcommand::BadArguments(
            "install-hooks: --runner-config FILE is required; see install-hooks --help".into(),
        ),
    }
}

const INSTALL_HOOKS_HELP: &str = "Usage: docker-credential-harbor install-hooks --runner-config FILE [--job-path PATH] [--registry HOST[:PORT]]

What scripts/install --runner-config runs. Adds pre_build_script and post_build_script, calling
PATH (default: this binary), on the line under each [[runners]] header of the GitLab runner's
config.toml FILE that lacks them, in the file's own line ending; nothing else in the file
changes, and the result must parse as the same document plus those keys before it replaces
the file. The replacement keeps the file's owner and mode, writes through a symbolic link, and
is a 0600 copy until it is complete. A hook the table already has is never rewritten: the line
to add or replace is printed. A file that is not TOML is refused, untouched.

--registry prints the allowed_docker_credential_helpers line of runners >= 19.4 for that
registry; it is never written, because its shape is unconfirmed and a key of the wrong type
stops the runner from loading the file.
";

fn parse_robots(rest: &[String]) -> Subcommand {
    let mut words = rest.iter().map(String::as_str);
    match words.next() {
        Some("prune") => {}
        Some("--help" | "-h") | None => return Subcommand::SubcommandHelp(ROBOTS_HELP),
        Some(other) => {
            return Subcommand::BadArguments(format!(
                "robots: unknown command {other:?}; see robots --help"
            ));
        }
    }
    let (mut older_than_hours, mut dry_run) = (3, false);
    while let Some(w) = words.next() {
        match w {
            "--dry-run" => dry_run = true,
            "--older-than" => match words
                .next()
                .and_then(|h| h.trim_end_matches('h').parse().ok())
            {
                Some(h) => older_than_hours = h,
                None => {
                    return Subcommand::BadArguments(
                        "robots prune: --older-than takes a number of hours".into(),
                    );
                }
            },
            "--help" | "-h" => return Subcommand::SubcommandHelp(ROBOTS_HELP),
            other => {
                return Subcommand::BadArguments(format!(
                    "robots prune: unknown argument {other:?}; see robots --help"
                ));
            }
        }
    }
    Subcommand::RobotsPrune {
        older_than_hours,
        dry_run,
    }
}

const ROBOTS_HELP: &str =
    "Usage: docker-credential-harbor robots prune [--older-than HOURS] [--dry-run]

Deletes the job robots pre-build left in HARBOR_PROJECT (a job killed before its robot could
be deleted): robots whose name starts with ci-job- and whose description names
docker-credential-harbor, once they have expired or are older than HOURS (default 3, longer
than most jobs run; raise it for longer job timeouts). Other robots are never touched. Uses
HARBOR_URL, HARBOR_USERNAME, HARBOR_PASSWORD and HARBOR_PROJECT, for example in a scheduled
pipeline; the account needs robot list and delete rights (a project admin).
";

fn parse_configure(rest: &[String]) -> Subcommand {
    let mut args = ConfigureArgs::default();
    for a in rest {
        match a.as_str() {
            "--help" | "-h" => return Subcommand::SubcommandHelp(CONFIGURE_HELP),
            "--docker" => args.clients.push(Client::Docker),
            "--podman" | "--buildah" | "--skopeo" => args.clients.push(Client::Containers),
            "--helm" => args.clients.push(Client::Helm),
            "--kaniko" => args.clients.push(Client::Kaniko),
            "--migrate" => args.migrate = true,
            flag if flag.starts_with('-') => {
                return Subcommand::BadArguments(format!(
                    "configure: unknown option {flag:?}; see configure --help"
                ));
            }
            registry => args.registries.push(registry.to_owned()),
        }
    }
    args.clients.dedup();
    Subcommand::Configure(args)
}

const PRE_BUILD_HELP: &str = "Usage: docker-credential-harbor pre-build [--job-robot]

For the GitLab runner's pre_build_script, as install-hooks writes it (docs/gitlab-runner.md):
  eval \"$(docker-credential-harbor pre-build || { echo \"… failed …\" >&2; …strict… || echo false; })\"
The part after || says in the job log when the binary is missing or did not finish, and then
fails the job under strict.

Resolves GitLab's HARBOR_* variables and prints
`export` lines for the job's shell (HARBOR_URL, HARBOR_HOST, HARBOR_REGISTRY, HARBOR_OCI,
HARBOR_PROJECT, HARBOR_USERNAME, HARBOR_USER; never the password), points docker, podman,
buildah, skopeo, helm and kaniko at the helper for Harbor's registry (per-job copies under
RUNNER_TEMP_PROJECT_DIR, exported as DOCKER_CONFIG, REGISTRY_AUTH_FILE, HELM_REGISTRY_CONFIG),
places DOCKER_CREDENTIAL_HARBOR_CA_FILE in certs.d, and verifies the credentials and the push
right with one request to Harbor. Without Harbor variables it does nothing.

DOCKER_CREDENTIAL_HARBOR_VERIFY: warn (default: a warning, the job goes on), strict (the job
fails before the build: the output ends with `false`), off. The exit status is 0 whenever the
output was written, so that the hook line can tell a binary that is missing or did not finish.

--job-robot (or DOCKER_CREDENTIAL_HARBOR_JOB_ROBOT=1): use the integration's credentials once,
to create a robot account with pull and push on HARBOR_PROJECT only, for this job only; the
job then sees the robot (HARBOR_USERNAME) and not HARBOR_PASSWORD, and the robot is deleted
when the job ends (it expires within a day regardless).
";

const POST_BUILD_HELP: &str = "Usage: docker-credential-harbor post-build

For the GitLab runner's post_build_script. Removes what pre-build wrote for this job: the
per-job client configuration, credHelpers entries it added, CA files it placed. Always exits 0.
";

const CONFIGURE_HELP: &str = "Usage: docker-credential-harbor configure [--docker] [--podman] [--helm] [--kaniko] [--migrate] [REGISTRY...]

Adds credHelpers entries naming this helper for each REGISTRY (default: the registry of
HARBOR_URL and those of the runner config) to docker's config.json, the containers tools'
auth.json (podman, buildah, skopeo), helm's registry config.json and kaniko's config (when
/kaniko exists). With no client option, all of them. Existing files are merged, never
clobbered; another helper already named for a registry is left in place and reported.

--migrate also moves every plaintext `auths` entry (docker login without a helper) out of
docker's config.json into the helper's store, reporting each one.
";

const DOCTOR_HELP: &str = "Usage: docker-credential-harbor doctor
       docker-credential-harbor doctor --runner-config FILE [--registry HOST[:PORT]]

Checks, one line each, what a push to Harbor needs: HARBOR_URL well formed, DNS, TCP,
TLS chain and name, Harbor answering and its version, the credentials, the project
(HARBOR_PROJECT), pull and push, and a robot account's expiry where Harbor shows it.
Every failure says what to change. Exits 0 only when no check failed. Never prints a secret.

Environment: HARBOR_URL (or HARBOR_HOST), HARBOR_USERNAME (or HARBOR_USER), HARBOR_PASSWORD,
HARBOR_PROJECT; DOCKER_CREDENTIAL_HARBOR_CA_FILE (extra CA bundle), SSL_CERT_FILE, SSL_CERT_DIR,
/etc/docker/certs.d/<registry>/*.crt, /etc/containers/certs.d/<registry>/*.crt;
DOCKER_CREDENTIAL_HARBOR_TIMEOUT (seconds, default 10); HTTPS_PROXY and NO_PROXY;
DOCKER_AUTH_CONFIG (an entry docker >= 28.3 would answer Harbor from, or a value it rejects).

With --runner-config, on a runner host: checks the GitLab runner's config.toml instead, for
each [[runners]] table: the hooks, the environment's DOCKER_AUTH_CONFIG, and whether an
allowed_docker_credential_helpers (runners >= 19.4, 19.3.2, 19.2.4, 19.1.3) names this helper
for the registry (--registry, or HARBOR_URL's); its shape is unconfirmed, so one that does is
reported as present, shape unverified.
";

/// The `--help` text.
pub fn help() -> String {
    format!(
        "{usage}

A Docker credential helper for Harbor: serves credentials to docker, podman, buildah,
skopeo, helm, kaniko, crane and the GitLab runner from GitLab's HARBOR_* variables,
from its own store (filled by `docker login`/`podman login`), or from a runner config.

Commands:
  doctor      check the HARBOR_* variables, the network, TLS, the credentials and the
              push right against Harbor; one line per check (doctor --help)
  pre-build   the runner's pre_build_script: eval \"$(docker-credential-harbor pre-build || …)\"
  post-build  the runner's post_build_script: undo what pre-build wrote for the job
  configure   point docker, podman, helm, kaniko at the helper; --migrate plaintext logins
  robots prune  delete job robots that pre-build --job-robot left behind
  install-hooks  add the hook lines to a runner's config.toml (what scripts/install runs)

Protocol verbs (the server address or credentials JSON on stdin):
  get       print {{\"ServerURL\",\"Username\",\"Secret\"}} for the address on stdin
  store     save {{\"ServerURL\",\"Username\",\"Secret\"}} from stdin in the store
  erase     remove the address on stdin from the store
  list      print {{\"host[:port]\": \"username\"}} for every registry it can answer
  version   print the version

Environment:
{variables}",
        usage = crate::protocol::USAGE,
        variables = variables_help(),
    )
}

/// The `Environment:` list of `--help`, from the one table of variables (env::VARIABLES).
fn variables_help() -> String {
    let mut out = String::new();
    for v in VARIABLES {
        if v.name.len() > 34 {
            out.push_str(&format!("  {}\n  {:<34} {}\n", v.name, "", v.meaning));
        } else {
            out.push_str(&format!("  {:<34} {}\n", v.name, v.meaning));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Command {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    fn sub(s: Subcommand) -> Command {
        Command::Sub(s)
    }

    #[test]
    fn help_lists_every_variable_of_the_table() {
        let help = help();
        for v in VARIABLES {
            assert!(
                help.contains(v.name) && help.contains(v.meaning),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn verbs_are_positional_and_alone() {
        let call = |c| Command::Protocol(c);
        assert_eq!(p(&["get"]), call(Call::Verb(Verb::Get)));
        assert_eq!(p(&["list"]), call(Call::Verb(Verb::List)));
        assert_eq!(p(&["get", "harbor.example.com"]), call(Call::Usage));
        assert_eq!(p(&[]), call(Call::Usage));
        assert_eq!(p(&["-v"]), call(Call::Version));
        assert_eq!(p(&["version", "x"]), call(Call::Usage));
        assert_eq!(p(&["--help"]), sub(Subcommand::Help));
        assert_eq!(
            p(&["frobnicate"]),
            call(Call::UnknownAction("frobnicate".into()))
        );
        assert_eq!(p(&["GET"]), call(Call::UnknownAction("GET".into())));
        assert_eq!(p(&["doctor"]), sub(Subcommand::Doctor));
        assert!(matches!(
            p(&["doctor", "--help"]),
            Command::Sub(Subcommand::SubcommandHelp(_))
        ));
        assert!(matches!(
            p(&["doctor", "x"]),
            Command::Sub(Subcommand::BadArguments(_))
        ));
        assert_eq!(
            p(&["pre-build"]),
            sub(Subcommand::PreBuild { job_robot: false })
        );
        assert_eq!(
            p(&["pre-build", "--job-robot"]),
            sub(Subcommand::PreBuild { job_robot: true })
        );
        assert_eq!(
            p(&["robots", "prune", "--older-than", "12h", "--dry-run"]),
            sub(Subcommand::RobotsPrune {
                older_than_hours: 12,
                dry_run: true
            })
        );
        assert!(matches!(
            p(&["robots", "prune", "--older-than"]),
            Command::Sub(Subcommand::BadArguments(_))
        ));
        assert_eq!(
            p(&[
                "configure",
                "--docker",
                "--podman",
                "h.example",
                "--migrate"
            ]),
            sub(Subcommand::Configure(ConfigureArgs {
                clients: vec![Client::Docker, Client::Containers],
                migrate: true,
                registries: vec!["h.example".into()],
            }))
        );
        assert!(matches!(
            p(&["configure", "--bogus"]),
            Command::Sub(Subcommand::BadArguments(_))
        ));
        assert_eq!(
            p(&[
                "install-hooks",
                "--runner-config",
                "c.toml",
                "--job-path",
                "/b/x"
            ]),
            sub(Subcommand::InstallHooks {
                config: "c.toml".into(),
                job_path: Some("/b/x".into()),
                registry: None,
            })
        );
        for bad in [
            &["install-hooks"][..],
            &["install-hooks", "--job-path", "/b/x"],
            &["install-hooks", "--runner-config"],
            &["install-hooks", "--runner-config", "c", "x"],
        ] {
            assert!(
                matches!(p(bad), Command::Sub(Subcommand::BadArguments(_))),
                "{bad:?}"
            );
        }
    }
}
