//! docker-credential-harbor: a Docker credential helper that serves GitLab's Harbor
//! integration credentials to every container tool of a CI job.
//!
//! Three crates. The core (`crates/core`, `docker-credential-harbor-core`) answers the
//! credential-helper protocol and nothing else; it has no HTTP, TLS or async dependency, so
//! `get` cannot reach the network by construction. The Harbor client (`crates/harbor`,
//! `harbor-client`) uses the core and is built from plain options; it knows no command and
//! no setting. This crate is everything else: the commands, the runner hooks, the job robots.
//! Its map, bottom up (an arrow is "may use"; everything may use the core and the Harbor
//! client):
//!
//! - the core, named by its crate, `docker_credential_harbor_core::…`: `text`, `problem` (the
//!   hint each error type gives), `address`, `env` (every variable's name), `vars`, `url`,
//!   `integration` (GitLab's variables resolved once), `atomic_file`, `protocol`, `sources`,
//!   `debug`, `docker_auth_config` (the `DOCKER_AUTH_CONFIG` docker ≥ 28.3 reads). Its own
//!   `lib.rs` holds its map.
//! - the Harbor client, named by its crate, `harbor_client::…`: the client (reqwest,
//!   rustls), its options, trust, the probe of each network layer, the one-request
//!   verification, the robot API. Its own `lib.rs` holds its map.
//! - [`shell`]: POSIX quoting and `export` lines. Pure. [`process`]: a process told from a
//!   later one with its pid (`ProcessId`), and the job's shell. [`hardening`]: no core dumps.
//!   [`start`]: what std's start-up did that `main` keeps.
//! - [`client_config`]: each client's config file, pointing it at the helper and back.
//! - [`certs_d`]: where clients read a registry's CA, for trust (handed to the Harbor client
//!   as data), placement and removal.
//! - [`settings`] → certs_d, client_config: everything else a command reads, resolved once
//!   and split by who reads it: `HarborSettings` (the Harbor client's options are made from
//!   it) and `JobContext` (what the hooks read about the job).
//! - [`leases`] → certs_d, client_config, process: what concurrent jobs share, and
//!   its undo.
//! - [`docker_auth_verdict`]: what a `DOCKER_AUTH_CONFIG` means for the helper's registries,
//!   and its one text for each reader (doctor, the runner check, pre-build).
//! - [`gitlab_runner_toml`]: the GitLab runner's config.toml: the hook lines, read for
//!   doctor (hooks, allowlist), and the checked text edit that adds the hook lines
//!   (`gitlab_runner_toml::edit`).
//! - [`job_record`] → leases, process, settings: what pre-build did (its actions), for
//!   post-build.
//! - [`report`]: the one warning/hint format, for any `problem::Problem` (the hint each
//!   error type gives, beside the type: in the core, the Harbor client and here).
//! - [`job_robot`] → job_record, process, report, settings: the job-scoped robot, its
//!   secret, its keeper.
//! - [`broker_robot`] → job_record, job_robot, settings: the robot harbor-broker gives the job
//!   for its id_token, served as a job robot is, and its release.
//! - [`cli`] → client_config: argv to a command.
//! - [`commands`] → any of the above: one driver per subcommand (`doctor`, `pre-build`,
//!   `post-build`, `configure`, `robots prune`, `install-hooks`, `kubelet-credential-provider`:
//!   the core's `kubelet` answers its static mode, the Harbor client's broker call its federated
//!   one).
//! - `fuzz` (the `fuzzing` feature only, never in a release build): the entry point of each
//!   fuzz target (fuzz/), one per parser of outside input.
//!
//! Nothing on the `get` path builds an HTTP client or spawns a process: `main` hands the
//! protocol to the core.

// pub(crate) by default: an item is `pub` only where another crate reaches it.
#![warn(unreachable_pub)]

pub(crate) mod broker_robot;
pub(crate) mod certs_d;
pub mod cli;
pub mod client_config;
pub mod commands;
pub(crate) mod docker_auth_verdict;
// Scaffolding for the fuzz workspace and the corpus replay, behind the `fuzzing` feature: a
// normal or release build does not compile it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod gitlab_runner_toml;
pub mod hardening;
pub(crate) mod job_record;
pub(crate) mod job_robot;
pub(crate) mod leases;
pub(crate) mod process;
pub mod report;
pub mod settings;
pub mod shell;
pub mod start;
