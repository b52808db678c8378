//! What a `DOCKER_AUTH_CONFIG` means for the helper's registries, and the one place its text
//! is written, for each reader: doctor (the job's own variable), doctor --runner-config (a
//! runner's `environment`, which every job gets) and pre-build (which unsets or rebuilds it,
//! or keeps it when told to). docs/gitlab-runner.md#versions-that-matter has the facts.
//!
//! Never prints the value: only registry names (`AuthsEntry::shown`) and the parser's reason,
//! which never repeats it.

use docker_credential_harbor_core::address::Registry;
use docker_credential_harbor_core::docker_auth_config::{AuthsEntry, DockerAuthConfig, Invalid};
use docker_credential_harbor_core::env::{DOCKER_AUTH_CONFIG, KEEP_AUTH_CONFIG_VAR};

/// What docker ≥ 28.3 does with the value that concerns the helper; a value that concerns it
/// not (unset, or no entry for these registries) has no verdict.
pub(crate) enum Verdict<'a> {
    /// It answers these registries from the value and never asks the helper.
    Shadows(Vec<&'a AuthsEntry>),
    /// It rejects the value, and says so at every credential lookup.
    Rejected(&'a Invalid),
}

/// Who is told, which decides the sentence.
#[derive(Clone, Copy)]
pub(crate) enum Reader<'a> {
    /// doctor, about the job's own variable: a warning line.
    Doctor,
    /// doctor --runner-config, about runner `name`'s `environment`.
    Runner(&'a str),
    /// pre-build, which unsets or rebuilds the variable: its reason for the shadowing entries,
    /// its whole note for a rejected value.
    PreBuild,
    /// pre-build, told by `KEEP_AUTH_CONFIG_VAR` to leave the variable as it is.
    PreBuildKeeping,
}

impl<'a> Verdict<'a> {
    pub(crate) fn of(config: &'a DockerAuthConfig, registries: &'a [Registry]) -> Option<Self> {
        match config {
            DockerAuthConfig::Unset => None,
            DockerAuthConfig::Valid { .. } => {
                let gone: Vec<&AuthsEntry> = config.shadowing(registries).collect();
                (!gone.is_empty()).then_some(Verdict::Shadows(gone))
            }
            DockerAuthConfig::Invalid(why) => Some(Verdict::Rejected(why)),
        }
    }

    /// The sentence for `reader`; none when pre-build keeps a value docker rejects anyway
    /// (docker ignores it, so there is nothing to say).
    pub(crate) fn said(&self, reader: Reader) -> Option<String> {
        // doctor's remedy for the job's variable, and the runner check's for its environment.
        const FIX: &str = "for the runner's job-image pulls, put credHelpers in the runner \
                           user's ~/.docker/config.json instead (docs/gitlab-runner.md); \
                           pre-build removes it from the job's shell meanwhile";
        const RUNNER_FIX: &str = "put credHelpers in the runner user's ~/.docker/config.json \
                                  instead, which no job sees";
        Some(match (self, reader) {
            (Verdict::Shadows(gone), Reader::Doctor) => format!(
                "{DOCKER_AUTH_CONFIG} has an entry for {}: docker ≥ 28.3 answers from it and never asks the helper, so a push with a pull-only entry is denied; {FIX}",
                listed(gone)
            ),
            (Verdict::Shadows(gone), Reader::Runner(name)) => format!(
                "runner {name}: environment gives every job a DOCKER_AUTH_CONFIG entry for {}, which docker >= 28.3 answers from instead of the helper; {RUNNER_FIX}",
                listed(gone)
            ),
            (Verdict::Shadows(gone), Reader::PreBuild) => format!(
                "docker ≥ 28.3 would use the entry for {} instead of the helper",
                listed(gone)
            ),
            (Verdict::Shadows(gone), Reader::PreBuildKeeping) => format!(
                "{DOCKER_AUTH_CONFIG} has an entry for {}, kept because {KEEP_AUTH_CONFIG_VAR} is set: docker ≥ 28.3 uses it instead of the helper",
                listed(gone)
            ),
            (Verdict::Rejected(why), Reader::Doctor) => format!(
                "{DOCKER_AUTH_CONFIG} is rejected by docker ≥ 28.3 ({why}): it prints \"Failed to create credential store from DOCKER_AUTH_CONFIG\" at every credential lookup, then uses its config files as if the variable were unset, and the command goes on; {FIX}"
            ),
            (Verdict::Rejected(why), Reader::Runner(name)) => format!(
                "runner {name}: environment gives every job a DOCKER_AUTH_CONFIG that docker >= 28.3 rejects ({why}) and ignores, with a warning at every credential lookup; {RUNNER_FIX}"
            ),
            (Verdict::Rejected(why), Reader::PreBuild) => format!(
                "{DOCKER_AUTH_CONFIG} unset for this job: docker ≥ 28.3 rejects it ({why}), so it ignores it and \
                 uses its config files, but prints \"Failed to create credential store from DOCKER_AUTH_CONFIG\" at \
                 every credential lookup; unsetting it loses nothing docker uses. The runner has already pulled \
                 the job's images; for the runner's own pulls, put credHelpers in the runner user's \
                 ~/.docker/config.json instead (docs/gitlab-runner.md)"
            ),
            (Verdict::Rejected(_), Reader::PreBuildKeeping) => return None,
        })
    }
}

/// The registries of `entries`, each once, sorted: an entry for a registry under several
/// spellings is one name.
fn listed(entries: &[&AuthsEntry]) -> String {
    let mut names: Vec<String> = entries.iter().map(|e| e.shown()).collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry under two spellings is one registry, named as the runner check and doctor
    /// named the registry they were given.
    #[test]
    fn each_reader_names_a_shadowed_registry_once() {
        let registry = Registry::parse("harbor.example.com").unwrap();
        let value =
            br#"{"auths":{"https://HARBOR.example.com/":{"auth":"eDp5"},"harbor.example.com":{"auth":"eDp5"},"other.example":{"auth":"eDp5"}}}"#;
        let config = DockerAuthConfig::parse(Some(value));
        let registries = [registry.clone()];
        let verdict = Verdict::of(&config, &registries).unwrap();
        assert_eq!(
            verdict.said(Reader::Runner("docker")).unwrap(),
            format!(
                "runner docker: environment gives every job a DOCKER_AUTH_CONFIG entry for {registry}, which docker >= 28.3 answers from instead of the helper; put credHelpers in the runner user's ~/.docker/config.json instead, which no job sees"
            )
        );
        assert!(
            verdict
                .said(Reader::Doctor)
                .unwrap()
                .starts_with(&format!("DOCKER_AUTH_CONFIG has an entry for {registry}: "))
        );
        assert!(Verdict::of(&config, &[Registry::parse("elsewhere.example").unwrap()]).is_none());
    }

    #[test]
    fn pre_build_keeping_a_rejected_value_says_nothing() {
        let config = DockerAuthConfig::parse(Some(br#"{"credHelpers":{"h":"harbor"}}"#));
        let registries = [Registry::parse("h").unwrap()];
        let verdict = Verdict::of(&config, &registries).unwrap();
        assert!(verdict.said(Reader::PreBuildKeeping).is_none());
        let said = verdict.said(Reader::PreBuild).unwrap();
        assert!(
            said.contains("rejects it (it holds \"credHelpers\""),
            "{said}"
        );
    }
}
