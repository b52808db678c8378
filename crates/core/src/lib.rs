//! The core of docker-credential-harbor: everything the credential-helper verbs (`get`,
//! `store`, `erase`, `list`, `version`) run on, and nothing else. Like cargo's
//! `cargo-credential`, it is a crate apart from the code that talks to Harbor: its
//! `Cargo.toml` has no HTTP, TLS or async dependency, so no code here can reach the network,
//! and the binary serves `get` from this crate alone.
//!
//! The map, bottom up (an arrow is "may use"):
//! - [`text`]: escaping for everything a person reads. Pure. [`problem`]: the hint an
//!   error type gives, beside the type.
//! - [`address`]: the canonical `host[:port]` key. Pure.
//! - [`env`] → text: the one reader of the process environment, and the name of every
//!   variable the tool reads ([`env::VARIABLES`]). [`debug`]: opt-in stderr lines.
//! - [`vars`] → env, address: GitLab's `HARBOR_*` variables resolved, cheaply, for `get`.
//! - [`url`] → vars: Harbor's base URL, checked for what a client may talk to; its host
//!   and port are its registry's.
//! - [`integration`] → url, vars: the whole integration resolved once, for the commands.
//! - [`docker_auth_config`] → address, text: `DOCKER_AUTH_CONFIG` as docker ≥ 28.3 reads
//!   it, as keys and offsets. Pure. Not on the `get` path (docker never passes it on).
//! - [`atomic_file`]: private files written atomically, files read safely, exclusive locks.
//! - [`protocol`] → address, text: the wire protocol and the [`protocol::Helper`] trait.
//! - [`kubelet`] → address, env, text, sources: the kubelet's credential provider protocol
//!   (v1): its request, its response as Go writes it, an image's registry and project, and the
//!   static answer from the runner-side config.
//! - [`sources`] → address, atomic_file, debug, env, protocol, vars: environment, store and
//!   the helper's runner-side config file ([`sources::runner_side`]), in that order, as one
//!   `Helper`.
//! - `fuzz` → address, protocol, sources (the `fuzzing` feature only, never in a release
//!   build): the entry point of each fuzz target in `crates/core/fuzz/`.

// pub(crate) by default: an item is `pub` only where another crate reaches it.
#![warn(unreachable_pub)]

pub mod address;
pub mod atomic_file;
pub mod debug;
pub mod docker_auth_config;
pub mod env;
// Scaffolding for crates/core/fuzz and the corpus replay, behind the `fuzzing` feature: a
// normal or release build does not compile it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod integration;
pub mod kubelet;
pub mod problem;
pub mod protocol;
pub mod sources;
pub mod text;
pub mod url;
pub mod vars;
