//! The one integration-test binary: every test runs the built `docker-credential-harbor` in a
//! fresh directory with a cleared environment (util::TestEnv). What several modules share
//! lives in `util` (a job as the runner runs it: `util::jobs`; the helper's Harbor client on the
//! double: `util::harbor`); no test module imports another.

#![allow(clippy::disallowed_methods, clippy::print_stderr, clippy::print_stdout)]

mod util;

/// The job's DOCKER_AUTH_CONFIG after pre-build, as docker >= 28.3 would read it.
mod auth_env;
/// The runner hooks against a real harbor-broker process, the double and the issuer double.
mod broker_e2e;
/// harbor-broker's answers a real broker never sends, against a stand-in broker.
mod broker_hooks;
/// Real docker CLI, skopeo, podman and buildah against a real registry, through the helper.
mod clients;
/// `configure` and `--migrate` outside CI.
mod configure;
/// `doctor` and the one-request verification against the Harbor double.
mod doctor;
/// Field clients: docker-py (credHelpers, credsStore, dockerd) and rootless podman as a runner
/// user.
mod field_clients;
/// The fuzz targets' seed corpus, replayed without libFuzzer.
mod fuzz_corpus;
/// Hostile input, files, addresses and Harbor answers; state shared between jobs.
mod hardening;
/// The runner hooks under dash, bash and busybox; real clients through the double and a registry.
mod hooks;
/// scripts/install on a runner host: config.toml edited as TOML reads it; the hook line itself.
mod install;
/// `kubelet-credential-provider` as the kubelet runs it: golden v1 cases, the stand-in broker.
mod kubelet;
/// The provider as the kubelet runs it, against a real harbor-broker, the Kubernetes issuer
/// double and a real registry; skopeo pulls with its answers.
mod kubelet_e2e;
/// 200 concurrent pre-builds against a Harbor that fails 30 % of requests.
mod load;
/// The protocol's conformance rows (docs/protocol.md), row by row, against every source.
mod protocol;
/// The release's job image (COPY --from our OCI image) and the tarball's install.
mod release;
/// Job-scoped robot accounts: minted, used, deleted, pruned.
mod robots;
/// Shell quoting, differentially: exports evaluated by dash, bash and busybox sh (proptest).
mod shell_quoting;
/// The timeout bounds a Harbor call as a whole, against servers that trickle.
mod slow_harbor;
/// Which source answers, in which order, and what `get` reads, spawns and connects to.
mod sources;
/// The static build in an empty root, without HOME, read-only, unprivileged.
mod static_binary;
/// The store: parallel writers, killed writers, corrupt files, modes, read-only homes.
mod store;
