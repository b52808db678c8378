//! argv to a [`Command`]: what the user or client typed, validated, with no I/O.
//!
//! Protocol verbs stay positional and alone, exactly as clients call them
//! (docs/protocol.md#invocation: argv is `[program, VERB]`), and are matched as whole words before
//! anything else, so `get` never reaches the option parser. Each subcommand reads the rest with
//! `lexopt` (ripgrep's parser: `--opt value`, `--opt=value`, `-abc` and `--` alike everywhere), in
//! one loop of its own with its help text beside it. No secret is ever taken from argv.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::Arg::{Long, Short, Value};

use docker_credential_harbor_core::env::VARIABLES;
use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::protocol::{Call, Verb};

use crate::client_config::Client;

/// `configure`'s arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigureArgs {
    pub(crate) clients: Vec<Client>,
    pub(crate) migrate: bool,
    pub(crate) registries: Vec<String>,
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
    DoctorGitlabRunner {
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
    /// `kubelet-credential-provider`: the kubelet's image credential provider (stdin to stdout).
    KubeletProvider,
    /// `<subcommand> --help`.
    SubcommandHelp(&'static str),
    /// A subcommand with arguments it does not take.
    BadArguments(ArgError),
}

/// Why the words after a subcommand are refused. Each text names the subcommand and where
/// its help is; a refused word is quoted as it was typed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A word the subcommand does not take (`said` is "doctor: unknown argument" and the like).
    #[error("{said} {word:?}; see {help} --help")]
    Unknown {
        said: &'static str,
        word: String,
        help: &'static str,
    },
    #[error(
        "kubelet-credential-provider takes no arguments (got {0:?}); the kubelet runs it with args: [\"kubelet-credential-provider\"]"
    )]
    KubeletProviderTakesNone(String),
    #[error("post-build takes no arguments (got {0:?}); see post-build --help")]
    PostBuildTakesNone(String),
    #[error("{sub}: {flag} needs a value")]
    NeedsValue {
        sub: &'static str,
        flag: &'static str,
    },
    #[error("robots prune: --older-than takes a number of hours")]
    NotHours,
    #[error("doctor: --registry goes with --runner-config FILE; see doctor --help")]
    RegistryAlone,
    #[error("install-hooks: --runner-config FILE is required; see install-hooks --help")]
    NoRunnerConfig,
}

impl Problem for ArgError {}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Command {
    let Some((first, rest)) = args.split_first() else {
        return Command::Protocol(Call::Usage);
    };
    // Borrowed for any UTF-8 word: the protocol's path allocates nothing here.
    let word = first.to_string_lossy();
    let sub = match word.as_ref() {
        "doctor" => doctor(Args::new(rest)),
        "pre-build" => pre_build(Args::new(rest)),
        "install-hooks" => install_hooks(Args::new(rest)),
        "robots" => robots(Args::new(rest)),
        "robot-keeper" if rest.is_empty() => Ok(Subcommand::RobotKeeper),
        "post-build" => post_build(Args::new(rest)),
        "configure" => configure(Args::new(rest)),
        "kubelet-credential-provider" => kubelet_provider(Args::new(rest)),
        "help" | "--help" | "-h" => Ok(Subcommand::Help),
        w => return Command::Protocol(protocol(w, rest.is_empty())),
    };
    Command::Sub(sub.unwrap_or_else(Subcommand::BadArguments))
}

/// What the protocol answers for first word `word` (docs/protocol.md#invocation): a verb or
/// the version when alone, the usage line when not; any other word is an unknown action.
fn protocol(word: &str, alone: bool) -> Call {
    let call = match word {
        "version" | "--version" | "-v" => Some(Call::Version),
        w => Verb::parse(w).map(Call::Verb),
    };
    match call {
        Some(call) if alone => call,
        Some(_) => Call::Usage,
        None => Call::UnknownAction(word.to_owned()),
    }
}

/// The arguments after a subcommand's name, through lexopt. Values are lossy text, as every
/// argument always was, except a FILE, which is the path exactly as given.
struct Args(lexopt::Parser);

impl Args {
    fn new(rest: &[OsString]) -> Args {
        let mut parser = lexopt::Parser::from_args(rest);
        // No short option takes a value (`-h` is the only one), so `-x=1` stays one word
        // and a message can quote it as typed.
        parser.set_short_equals(false);
        Args(parser)
    }

    /// The next argument. A flag given `=value` is refused by `unknown`, with the word as
    /// typed.
    fn next(
        &mut self,
        unknown: impl Fn(String) -> ArgError,
    ) -> Result<Option<lexopt::Arg<'_>>, ArgError> {
        self.0.next().map_err(|e| {
            unknown(match e {
                lexopt::Error::UnexpectedValue { option, value } => {
                    format!("{option}={}", value.to_string_lossy())
                }
                // `next` reports nothing else; kept as text rather than a panic.
                other => other.to_string(),
            })
        })
    }

    /// An option's value, even one that starts with `-`; `None` at the end of argv.
    fn value(&mut self) -> Option<OsString> {
        self.0.value().ok()
    }

    /// An option's value as text.
    fn text(&mut self) -> Option<String> {
        self.value().map(|v| v.to_string_lossy().into_owned())
    }
}

/// An argument as lexopt gave it, written back: `--name`, `-c` or the value. It is owned, so
/// that [`typed`] may go on reading the parser.
fn written(arg: lexopt::Arg<'_>) -> String {
    match arg {
        Long(name) => format!("--{name}"),
        Short(c) => format!("-{c}"),
        Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// The whole word a refused argument came from, as typed, for its message: lexopt has split
/// `--name=value` and `-abc`, and `written` is what it gave.
fn typed(written: String, args: &mut Args) -> String {
    match args.0.optional_value() {
        Some(tail) if written.starts_with("--") => format!("{written}={}", tail.to_string_lossy()),
        Some(tail) => written + &tail.to_string_lossy(),
        None => written,
    }
}

/// The refusal of a word a subcommand does not take (`said`: "doctor: unknown argument"),
/// pointing at `help`'s `--help`. The word is quoted, and its control characters escaped, once:
/// by the message's `{word:?}`.
fn unknown(said: &'static str, help: &'static str) -> impl Fn(String) -> ArgError + Copy {
    move |word| ArgError::Unknown { said, word, help }
}

/// The refusal of `sub`'s option given without its value.
fn needs(sub: &'static str) -> impl Fn(&'static str) -> ArgError + Copy {
    move |flag| ArgError::NeedsValue { sub, flag }
}

/// `doctor [--runner-config FILE [--registry HOST[:PORT]]]`.
fn doctor(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = unknown("doctor: unknown argument", "doctor");
    let needs = needs("doctor");
    let (mut config, mut registry) = (None, None);
    while let Some(arg) = args.next(unknown)? {
        match arg {
            Long("help") | Short('h') => return Ok(Subcommand::SubcommandHelp(DOCTOR_HELP)),
            Long("runner-config") => {
                config = Some(args.value().ok_or(needs("--runner-config"))?);
            }
            Long("registry") => {
                registry = Some(args.text().ok_or(needs("--registry"))?);
            }
            other => return Err(unknown(typed(written(other), &mut args))),
        }
    }
    match (config, registry) {
        (None, None) => Ok(Subcommand::Doctor),
        (Some(c), registry) => Ok(Subcommand::DoctorGitlabRunner {
            config: PathBuf::from(c),
            registry,
        }),
        (None, Some(_)) => Err(ArgError::RegistryAlone),
    }
}

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

/// `pre-build [--job-robot]`.
fn pre_build(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = unknown("pre-build: unknown argument", "pre-build");
    let mut job_robot = false;
    while let Some(arg) = args.next(unknown)? {
        match arg {
            Long("help") | Short('h') => return Ok(Subcommand::SubcommandHelp(PRE_BUILD_HELP)),
            Long("job-robot") => job_robot = true,
            other => return Err(unknown(typed(written(other), &mut args))),
        }
    }
    Ok(Subcommand::PreBuild { job_robot })
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

/// `install-hooks --runner-config FILE [--job-path PATH] [--registry HOST[:PORT]]`.
fn install_hooks(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = unknown("install-hooks: unknown argument", "install-hooks");
    let needs = needs("install-hooks");
    let (mut config, mut job_path, mut registry) = (None, None, None);
    while let Some(arg) = args.next(unknown)? {
        match arg {
            Long("help") | Short('h') => {
                return Ok(Subcommand::SubcommandHelp(INSTALL_HOOKS_HELP));
            }
            Long("runner-config") => {
                config = Some(args.value().ok_or(needs("--runner-config"))?);
            }
            Long("job-path") => {
                job_path = Some(args.text().ok_or(needs("--job-path"))?);
            }
            Long("registry") => {
                registry = Some(args.text().ok_or(needs("--registry"))?);
            }
            other => return Err(unknown(typed(written(other), &mut args))),
        }
    }
    match config {
        Some(c) => Ok(Subcommand::InstallHooks {
            config: PathBuf::from(c),
            job_path,
            registry,
        }),
        None => Err(ArgError::NoRunnerConfig),
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

/// `robots prune [--older-than HOURS] [--dry-run]`.
fn robots(mut args: Args) -> Result<Subcommand, ArgError> {
    let command = |word| ArgError::Unknown {
        said: "robots: unknown command",
        word,
        help: "robots",
    };
    match args.next(command)? {
        Some(Value(command)) if command == "prune" => {}
        Some(Long("help") | Short('h')) | None => {
            return Ok(Subcommand::SubcommandHelp(ROBOTS_HELP));
        }
        Some(other) => {
            return Err(command(typed(written(other), &mut args)));
        }
    }
    let unknown = unknown("robots prune: unknown argument", "robots");
    let (mut older_than_hours, mut dry_run) = (3, false);
    while let Some(arg) = args.next(unknown)? {
        match arg {
            Long("dry-run") => dry_run = true,
            Long("older-than") => {
                older_than_hours = args
                    .text()
                    .and_then(|h| h.trim_end_matches('h').parse().ok())
                    .ok_or(ArgError::NotHours)?;
            }
            Long("help") | Short('h') => return Ok(Subcommand::SubcommandHelp(ROBOTS_HELP)),
            other => return Err(unknown(typed(written(other), &mut args))),
        }
    }
    Ok(Subcommand::RobotsPrune {
        older_than_hours,
        dry_run,
    })
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

/// `post-build`, alone: anything after it is refused.
fn post_build(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = ArgError::PostBuildTakesNone;
    if let Some(arg) = args.next(unknown)? {
        return match arg {
            Long("help") | Short('h') => Ok(Subcommand::SubcommandHelp(POST_BUILD_HELP)),
            other => Err(unknown(typed(written(other), &mut args))),
        };
    }
    Ok(Subcommand::PostBuild)
}

const POST_BUILD_HELP: &str = "Usage: docker-credential-harbor post-build

For the GitLab runner's post_build_script. Removes what pre-build wrote for this job: the
per-job client configuration, credHelpers entries it added, CA files it placed. Always exits 0.
";

/// `kubelet-credential-provider`, alone, as the kubelet runs it.
fn kubelet_provider(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = ArgError::KubeletProviderTakesNone;
    if let Some(arg) = args.next(unknown)? {
        return match arg {
            Long("help") | Short('h') => Ok(Subcommand::SubcommandHelp(KUBELET_PROVIDER_HELP)),
            other => Err(unknown(typed(written(other), &mut args))),
        };
    }
    Ok(Subcommand::KubeletProvider)
}

const KUBELET_PROVIDER_HELP: &str = "Usage: docker-credential-harbor kubelet-credential-provider

The kubelet's image credential provider (credentialprovider.kubelet.k8s.io/v1; docs/kubernetes.md):
reads a CredentialProviderRequest on stdin and writes a CredentialProviderResponse on stdout.
Without DOCKER_CREDENTIAL_HARBOR_BROKER it answers from the runner-side config file
(DOCKER_CREDENTIAL_HARBOR_CONFIG, else /etc/docker-credential-harbor/config.json); a registry
the file does not list gets an empty auth. With DOCKER_CREDENTIAL_HARBOR_BROKER and HARBOR_URL,
it trades the pod's serviceAccountToken (tokenAttributes) at harbor-broker for a pull robot of
the image's project. A failure is one line on stderr and exit 1.
";

/// `configure [--docker] [--podman] [--helm] [--kaniko] [--migrate] [REGISTRY...]`.
fn configure(mut args: Args) -> Result<Subcommand, ArgError> {
    let unknown = unknown("configure: unknown option", "configure");
    let mut configure = ConfigureArgs::default();
    while let Some(arg) = args.next(unknown)? {
        match arg {
            Long("help") | Short('h') => return Ok(Subcommand::SubcommandHelp(CONFIGURE_HELP)),
            Long("docker") => configure.clients.push(Client::Docker),
            Long("podman" | "buildah" | "skopeo") => configure.clients.push(Client::Containers),
            Long("helm") => configure.clients.push(Client::Helm),
            Long("kaniko") => configure.clients.push(Client::Kaniko),
            Long("migrate") => configure.migrate = true,
            // No registry starts with `-`: such a word stays refused, even after `--`.
            Value(registry) if !registry.as_encoded_bytes().starts_with(b"-") => configure
                .registries
                .push(registry.to_string_lossy().into_owned()),
            other => return Err(unknown(typed(written(other), &mut args))),
        }
    }
    configure.clients.dedup();
    Ok(Subcommand::Configure(configure))
}

const CONFIGURE_HELP: &str = "Usage: docker-credential-harbor configure [--docker] [--podman] [--helm] [--kaniko] [--migrate] [REGISTRY...]

Adds credHelpers entries naming this helper for each REGISTRY (default: the registry of
HARBOR_URL and those of the runner config) to docker's config.json, the containers tools'
auth.json (podman, buildah, skopeo), helm's registry config.json and kaniko's config (when
/kaniko exists). With no client option, all of them. Existing files are merged, never
clobbered; another helper already named for a registry is left in place and reported.

--migrate also moves every plaintext `auths` entry (docker login without a helper) out of
docker's config.json into the helper's store, reporting each one.
";

/// The `--help` text.
pub(crate) fn help() -> String {
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
  kubelet-credential-provider  the kubelet's image credential provider (docs/kubernetes.md)

Protocol verbs (the server address or credentials JSON on stdin):
  get       print {{\"ServerURL\",\"Username\",\"Secret\"}} for the address on stdin
  store     save {{\"ServerURL\",\"Username\",\"Secret\"}} from stdin in the store
  erase     remove the address on stdin from the store
  list      print {{\"host[:port]\": \"username\"}} for every registry it can answer
  version   print the version

Environment:
{variables}",
        usage = docker_credential_harbor_core::protocol::USAGE,
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
        assert_eq!(
            p(&["kubelet-credential-provider"]),
            sub(Subcommand::KubeletProvider)
        );
        assert!(matches!(
            p(&["kubelet-credential-provider", "--x"]),
            Command::Sub(Subcommand::BadArguments(
                ArgError::KubeletProviderTakesNone(_)
            ))
        ));
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

    #[test]
    fn options_take_their_value_either_way() {
        assert_eq!(
            p(&[
                "doctor",
                "--runner-config=c.toml",
                "--registry",
                "h.example"
            ]),
            sub(Subcommand::DoctorGitlabRunner {
                config: "c.toml".into(),
                registry: Some("h.example".into()),
            })
        );
        assert_eq!(
            p(&["robots", "prune", "--older-than=12h"]),
            sub(Subcommand::RobotsPrune {
                older_than_hours: 12,
                dry_run: false
            })
        );
        // A value may look like an option, as before.
        assert_eq!(
            p(&["install-hooks", "--runner-config", "--help"]),
            sub(Subcommand::InstallHooks {
                config: "--help".into(),
                job_path: None,
                registry: None,
            })
        );
    }

    #[test]
    fn a_refused_argument_is_quoted_as_it_was_typed() {
        let bad = |args: &[&str]| match p(args) {
            Command::Sub(Subcommand::BadArguments(e)) => e.to_string(),
            other => panic!("{args:?}: {other:?}"),
        };
        let cases: [(&[&str], &str); 9] = [
            (
                &["doctor", "--bogus=1"],
                "doctor: unknown argument \"--bogus=1\"; see doctor --help",
            ),
            (
                &["install-hooks", "-xy"],
                "install-hooks: unknown argument \"-xy\"; see install-hooks --help",
            ),
            (
                &["pre-build", "--job-robot=1"],
                "pre-build: unknown argument \"--job-robot=1\"; see pre-build --help",
            ),
            (
                &["configure", "-x=1"],
                "configure: unknown option \"-x=1\"; see configure --help",
            ),
            (
                &["configure", "--", "-"],
                "configure: unknown option \"-\"; see configure --help",
            ),
            (
                &["post-build", "x"],
                "post-build takes no arguments (got \"x\"); see post-build --help",
            ),
            (
                &["robots", "--x=y"],
                "robots: unknown command \"--x=y\"; see robots --help",
            ),
            (
                &["robots", "prune", "--dry-run", "--older-than"],
                "robots prune: --older-than takes a number of hours",
            ),
            (
                &["doctor", "--registry"],
                "doctor: --registry needs a value",
            ),
        ];
        for (args, message) in cases {
            assert_eq!(bad(args), message);
        }
    }

    #[test]
    fn a_control_character_in_a_refused_word_is_escaped_once_by_every_subcommand() {
        for (sub, said, help) in [
            ("doctor", "doctor: unknown argument", "doctor"),
            (
                "install-hooks",
                "install-hooks: unknown argument",
                "install-hooks",
            ),
            ("pre-build", "pre-build: unknown argument", "pre-build"),
            ("configure", "configure: unknown option", "configure"),
        ] {
            let got = match p(&[sub, "--a\x1bb\nc"]) {
                Command::Sub(Subcommand::BadArguments(e)) => e.to_string(),
                other => panic!("{sub}: {other:?}"),
            };
            assert_eq!(
                got,
                format!("{said} \"--a\\u{{1b}}b\\nc\"; see {help} --help")
            );
        }
    }

    #[test]
    fn a_runner_config_path_keeps_bytes_that_are_not_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let file = OsString::from_vec(b"/etc/gitlab-runner/\xffconfig.toml".to_vec());
        for command in ["doctor", "install-hooks"] {
            let args = [command.into(), "--runner-config".into(), file.clone()];
            let config = match parse(&args) {
                Command::Sub(Subcommand::DoctorGitlabRunner { config, .. })
                | Command::Sub(Subcommand::InstallHooks { config, .. }) => config,
                other => panic!("{command}: {other:?}"),
            };
            assert_eq!(config.into_os_string(), file, "{command}");
        }
    }
}
