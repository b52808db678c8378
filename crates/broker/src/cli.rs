//! `harbor-broker`'s command line and exit codes: `--config FILE` (required), `--version`,
//! `--help`. Exit 2 on bad usage, 1 when the config does not load (the message names the file
//! and key) or the service cannot start, 0 after a clean shutdown. Errors go to stderr, one
//! line and a `hint:` line; stdout is the audit log's alone.
//!
//! What it must never do: take a secret from argv (the Harbor password is in
//! `password_file`), or print anything on stdout but `--help` and `--version`.

// Output is this module's job: usage and errors on stderr, --help and --version on stdout.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use docker_credential_harbor_core::problem::Problem;
use docker_credential_harbor_core::text;
use lexopt::Arg::{Long, Short};

use crate::config::{self, Config};
use crate::robots::Robots;

const HELP: &str = "\
harbor-broker: trades a GitLab CI job's id_token for a short-lived Harbor robot

usage: harbor-broker --config FILE

  --config FILE   the broker's TOML config (see docs/broker.md)
  --version       print the version and exit
  -h, --help      print this help and exit

Serves POST and DELETE /v1/credentials, GET /healthz, /readyz and /metrics; writes one
JSON audit line per decision on stdout; stops on SIGTERM or SIGINT.
";

/// What argv asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run { config: PathBuf },
    Version,
    Help,
}

/// Bad usage: what is wrong (exit 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Usage(String);

impl Problem for Usage {
    fn hint(&self) -> Option<String> {
        Some("run harbor-broker --config FILE (harbor-broker --help says more)".into())
    }
}

/// Parses argv (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Usage> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = None;
    loop {
        let arg = parser
            .next()
            .map_err(|e| Usage(text::inline(&e.to_string()).into_owned()))?;
        match arg {
            None => break,
            Some(Long("help") | Short('h')) => return Ok(Command::Help),
            Some(Long("version")) => return Ok(Command::Version),
            Some(Long("config")) => {
                let value = parser
                    .value()
                    .map_err(|_| Usage("--config needs a FILE".into()))?;
                if value.is_empty() {
                    return Err(Usage("--config needs a FILE".into()));
                }
                config = Some(PathBuf::from(value));
            }
            Some(other) => {
                let shown = text::inline(&format!("{:?}", other.unexpected())).into_owned();
                return Err(Usage(format!("unknown argument {shown}")));
            }
        }
    }
    config
        .map(|config| Command::Run { config })
        .ok_or_else(|| Usage("--config FILE is required".into()))
}

fn report(e: &dyn Problem) {
    eprintln!("harbor-broker: {e}");
    if let Some(hint) = e.hint() {
        eprintln!("  hint: {hint}");
    }
}

/// The whole program: `connect` makes the Harbor side from the loaded config (the binary's
/// one line of wiring).
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    connect: impl FnOnce(&Config) -> anyhow::Result<Arc<dyn Robots>>,
) -> ExitCode {
    let path = match parse(args) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("harbor-broker {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run { config }) => config,
        Err(usage) => {
            report(&usage);
            return ExitCode::from(2);
        }
    };
    let config = match config::load(&path) {
        Ok(config) => config,
        Err(e) => {
            report(&e);
            return ExitCode::FAILURE;
        }
    };
    let started = connect(&config).and_then(|robots| crate::service::run(&config, robots));
    match started {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harbor-broker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn config_is_required_and_version_and_help_stand_alone() {
        assert_eq!(
            parse(args(&["--config", "/etc/b.toml"])),
            Ok(Command::Run {
                config: "/etc/b.toml".into()
            })
        );
        assert_eq!(
            parse(args(&["--config=/etc/b.toml"])),
            Ok(Command::Run {
                config: "/etc/b.toml".into()
            })
        );
        assert_eq!(parse(args(&["--version"])), Ok(Command::Version));
        assert_eq!(parse(args(&["-h"])), Ok(Command::Help));
        for bad in [
            &[][..],
            &["--config"],
            &["--config", ""],
            &["--confg", "x"],
            &["serve"],
            &["--config", "x", "\u{1b}[2J"],
        ] {
            let err = parse(args(bad)).unwrap_err().to_string();
            assert!(!err.contains('\u{1b}'), "{err}");
        }
    }

    #[test]
    fn a_config_that_does_not_load_exits_1_and_bad_usage_2() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let code = main(
            args(&["--config", missing.to_str().unwrap()]),
            |_| -> anyhow::Result<Arc<dyn Robots>> { unreachable!("no config, no Harbor") },
        );
        assert_eq!(code, ExitCode::FAILURE);
        let code = main(args(&["--bogus"]), |_| unreachable!());
        assert_eq!(code, ExitCode::from(2));
    }
}
