//! The broker's fuzz targets' seed corpus, replayed by the normal test run: every seed still
//! holds every property of harbor_broker::fuzz, without nightly or libFuzzer. And the list of
//! targets, the `fuzz/fuzz_targets/` files and the corpus directories agree, so no target is
//! left out of scripts/fuzz silently.

use std::fs;
use std::path::Path;

const FUZZ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz");

#[test]
fn every_target_has_its_file_and_a_seed_corpus() {
    let mut files: Vec<String> = fs::read_dir(Path::new(FUZZ).join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().replace(".rs", ""))
        .collect();
    files.sort();
    let mut names: Vec<&str> = harbor_broker::fuzz::TARGETS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    names.sort();
    assert_eq!(files, names);
    for name in names {
        let seeds = fs::read_dir(Path::new(FUZZ).join("corpus").join(name))
            .unwrap()
            .count();
        assert!(seeds >= 3, "{name}: {seeds} seeds");
    }
}

#[test]
fn every_seed_holds_its_target_s_properties() {
    for (name, target) in harbor_broker::fuzz::TARGETS {
        for entry in fs::read_dir(Path::new(FUZZ).join("corpus").join(name)).unwrap() {
            let path = entry.unwrap().path();
            target(&fs::read(&path).unwrap());
        }
    }
}
