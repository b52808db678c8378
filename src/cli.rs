//! argv to a [`Command`]: what the user or client typed, validated, with no I/O.
//!
//! Protocol verbs stay positional and alone, exactly as clients call them (protocol.md §1.0:
//! argv is `[program, VERB]`). Subcommands sit beside them. No secret is ever taken from argv.

use std::ffi::OsString;

use crate::protocol::Verb;

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `get`, `store`, `erase`, `list`: stdin in, answer on stdout.
    Protocol(Verb),
    /// `version`, `--version`, `-v`.
    Version,
    /// `--help`, `-h`, `help`.
    Help,
    /// No arguments, or a verb followed by more arguments: the usage line, exit 1.
    Usage,
    /// An unknown first word.
    Unknown(String),
    /// `doctor`: check the variables and Harbor, one line per check.
    Doctor,
    /// `<subcommand> --help`.
    SubcommandHelp(&'static str),
    /// A subcommand with arguments it does not take.
    BadArguments(String),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Command {
    let Some(first) = args.first() else {
        return Command::Usage;
    };
    let word = first.to_string_lossy();
    let alone = args.len() == 1;
    let rest: Vec<String> = args[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match word.as_ref() {
        "doctor" => match rest.first().map(String::as_str) {
            None => Command::Doctor,
            Some("--help" | "-h") => Command::SubcommandHelp(DOCTOR_HELP),
            Some(other) => Command::BadArguments(format!(
                "doctor takes no arguments (got {other:?}); see doctor --help"
            )),
        },
        "version" | "--version" | "-v" if alone => Command::Version,
        "help" | "--help" | "-h" => Command::Help,
        w => match Verb::parse(w) {
            Some(verb) if alone => Command::Protocol(verb),
            Some(_) => Command::Usage,
            None if matches!(w, "version" | "--version" | "-v") => Command::Usage,
            None => Command::Unknown(w.to_owned()),
        },
    }
}

const DOCTOR_HELP: &str = "Usage: docker-credential-harbor doctor

Checks, one line each, what a push to Harbor needs: HARBOR_URL well formed, DNS, TCP,
TLS chain and name, Harbor answering and its version, the credentials, the project
(HARBOR_PROJECT), pull and push, and a robot account's expiry where Harbor shows it.
Every failure says what to change. Exits 0 only when no check failed. Never prints a secret.

Environment: HARBOR_URL (or HARBOR_HOST), HARBOR_USERNAME (or HARBOR_USER), HARBOR_PASSWORD,
HARBOR_PROJECT; DOCKER_CREDENTIAL_HARBOR_CA_FILE (extra CA bundle), SSL_CERT_FILE, SSL_CERT_DIR,
/etc/docker/certs.d/<registry>/*.crt, /etc/containers/certs.d/<registry>/*.crt;
DOCKER_CREDENTIAL_HARBOR_TIMEOUT (seconds, default 10); HTTPS_PROXY and NO_PROXY.
";

/// The `--help` text.
pub fn help() -> String {
    format!(
        "{usage}

A Docker credential helper for Harbor: serves credentials to docker, podman, buildah,
skopeo, helm, kaniko, crane and the GitLab runner from GitLab's HARBOR_* variables,
from its own store (filled by `docker login`/`podman login`), or from a runner config.

Commands:
  doctor    check the HARBOR_* variables, the network, TLS, the credentials and the
            push right against Harbor; one line per check (doctor --help)

Protocol verbs (the server address or credentials JSON on stdin):
  get       print {{\"ServerURL\",\"Username\",\"Secret\"}} for the address on stdin
  store     save {{\"ServerURL\",\"Username\",\"Secret\"}} from stdin in the store
  erase     remove the address on stdin from the store
  list      print {{\"host[:port]\": \"username\"}} for every registry it can answer
  version   print the version

Environment:
  HARBOR_URL, HARBOR_HOST, HARBOR_USERNAME (or HARBOR_USER), HARBOR_PASSWORD
                                     as GitLab's Harbor integration sets them
  DOCKER_CREDENTIAL_HARBOR_STORE     store file (default: $XDG_DATA_HOME/docker-credential-harbor/credentials.json)
  DOCKER_CREDENTIAL_HARBOR_CONFIG    runner config (default: $XDG_CONFIG_HOME/docker-credential-harbor/config.json,
                                     then /etc/docker-credential-harbor/config.json)
  DOCKER_CREDENTIAL_HARBOR_CA_FILE   extra CA bundle for Harbor (doctor and hooks)
  DOCKER_CREDENTIAL_HARBOR_TIMEOUT   seconds to wait for Harbor (default 10)
  DOCKER_CREDENTIAL_HARBOR_DEBUG=1   explain each answer on stderr (never a secret)
",
        usage = crate::protocol::USAGE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Command {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn verbs_are_positional_and_alone() {
        assert_eq!(p(&["get"]), Command::Protocol(Verb::Get));
        assert_eq!(p(&["list"]), Command::Protocol(Verb::List));
        assert_eq!(p(&["get", "harbor.example.com"]), Command::Usage);
        assert_eq!(p(&[]), Command::Usage);
        assert_eq!(p(&["-v"]), Command::Version);
        assert_eq!(p(&["version", "x"]), Command::Usage);
        assert_eq!(p(&["--help"]), Command::Help);
        assert_eq!(p(&["frobnicate"]), Command::Unknown("frobnicate".into()));
        assert_eq!(p(&["GET"]), Command::Unknown("GET".into()));
        assert_eq!(p(&["doctor"]), Command::Doctor);
        assert!(matches!(
            p(&["doctor", "--help"]),
            Command::SubcommandHelp(_)
        ));
        assert!(matches!(p(&["doctor", "x"]), Command::BadArguments(_)));
    }
}
