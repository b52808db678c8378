//! The fuzz targets' seed corpus, replayed by the normal test run: every seed still holds
//! every property (docker_credential_harbor::fuzz for `fuzz/`,
//! docker_credential_harbor_core::fuzz for `crates/core/fuzz/`), without nightly or
//! libFuzzer. And in each fuzz workspace, the list of targets, the `fuzz_targets/` files and
//! the corpus directories agree.

use std::fs;
use std::path::Path;

use docker_credential_harbor::fuzz::Target;

/// Each fuzz workspace and its targets.
const WORKSPACES: [(&str, &[(&str, Target)]); 2] = [
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"),
        docker_credential_harbor::fuzz::TARGETS,
    ),
    (
        concat!(env!("CARGO_MANIFEST_DIR"), "/crates/core/fuzz"),
        docker_credential_harbor_core::fuzz::TARGETS,
    ),
];

#[test]
fn every_target_has_its_file_and_a_seed_corpus() {
    for (fuzz, targets) in WORKSPACES {
        let mut files: Vec<String> = fs::read_dir(Path::new(fuzz).join("fuzz_targets"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().replace(".rs", ""))
            .collect();
        files.sort();
        let mut names: Vec<String> = targets.iter().map(|(n, _)| (*n).to_owned()).collect();
        names.sort();
        assert_eq!(files, names);
        for (name, _) in targets {
            let seeds = fs::read_dir(Path::new(fuzz).join("corpus").join(name))
                .unwrap()
                .count();
            assert!(seeds >= 3, "{name}: {seeds} seeds");
        }
    }
}

#[test]
fn every_seed_holds_every_property() {
    for (fuzz, targets) in WORKSPACES {
        for (name, target) in targets {
            for entry in fs::read_dir(Path::new(fuzz).join("corpus").join(name)).unwrap() {
                let path = entry.unwrap().path();
                let bytes = fs::read(&path).unwrap();
                let run = std::panic::catch_unwind(|| target(&bytes));
                assert!(run.is_ok(), "{name}: {} breaks a property", path.display());
            }
        }
    }
}
