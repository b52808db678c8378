# Sourced by scripts/fuzz and scripts/lib/cargo-tools.sh: which toolchain builds the fuzz targets.
# cargo-fuzz passes -Zsanitizer=address and other unstable flags. A nightly toolchain takes them
# as they are; on stable, RUSTC_BOOTSTRAP=1 unlocks them (stable ships the ASan runtime), so a
# machine without nightly still fuzzes: fuzzing is never skipped.
if cargo +nightly --version >/dev/null 2>&1; then
  fuzz_toolchain="nightly ($(cargo +nightly --version))"
  fuzz_cargo() { cargo +nightly "$@"; }
else
  fuzz_toolchain="stable with RUSTC_BOOTSTRAP=1 ($(cargo --version))"
  fuzz_cargo() { RUSTC_BOOTSTRAP=1 cargo "$@"; }
fi
