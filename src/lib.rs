//! docker-credential-harbor: a Docker credential helper that serves GitLab's Harbor
//! integration credentials to every container tool of a CI job.
//!
//! The map, bottom up (an arrow is "may use"):
//! - [`address`]: the canonical `host[:port]` key. Pure.
//! - [`env`]: the one reader of the process environment.
//! - [`vars`] → env, address: GitLab's `HARBOR_*` variables resolved.
//! - [`atomic_file`]: private files replaced atomically, exclusive locks.
//! - [`protocol`] → address: the wire protocol and the [`protocol::Helper`] trait.
//! - [`sources`] → protocol, address, env, vars, atomic_file: environment, store and runner
//!   config, in that order, as one `Helper`.
//! - [`harbor`] → address, env, vars: the Harbor client (reqwest, rustls), trust, the
//!   one-request verification. Unreachable from `protocol` and `sources`.
//! - [`client_config`] → address, env, atomic_file: `credHelpers` in docker, containers, helm
//!   and kaniko configs, merged, never clobbered.
//! - [`shell`]: POSIX quoting and `export` lines. Pure. [`job`]: what pre-build did, for post-build.
//! - [`leases`] → job, client_config, atomic_file: what concurrent jobs share, and its undo.
//! - [`job_robot`] → harbor, job, sources: the job-scoped robot, its secret, its keeper process.
//! - [`commands`] → any of the above: one driver per subcommand (`doctor`, `pre-build`,
//!   `post-build`, `configure`).
//! - [`cli`]: argv to a command. [`report`]: the panic hook. [`debug`]: opt-in stderr lines.
//!   [`text`]: escaping for everything a person reads. [`hardening`]: no core dumps.
//!   [`fuzz`]: the entry point of each fuzz target (fuzz/), one per parser of outside input.
//!
//! Nothing on the `get` path builds an HTTP client or spawns a process.

pub mod address;
pub mod atomic_file;
pub mod cli;
pub mod client_config;
pub mod commands;
pub mod debug;
pub mod env;
#[doc(hidden)]
pub mod fuzz;
pub mod harbor;
pub mod hardening;
pub mod job;
pub mod job_robot;
pub mod leases;
pub mod protocol;
pub mod report;
pub mod shell;
pub mod sources;
pub mod text;
pub mod vars;
