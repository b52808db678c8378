#!/bin/sh
# Installs the cargo tools later steps of scripts/test use, only when missing: cargo-cyclonedx
# (scripts/release's SBOM) and cargo-fuzz (scripts/fuzz, on nightly or on stable).
# scripts/test runs it in the background from the start, so the builds overlap apt's downloads
# and the tests' waits; scripts/release and scripts/fuzz still install on their own when run alone.
set -eu
if ! cargo cyclonedx --version >/dev/null 2>&1; then
  echo "cargo-tools: installing cargo-cyclonedx from crates.io"
  cargo install --locked -q cargo-cyclonedx
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-tools: installing cargo-fuzz from crates.io"
  cargo install --locked -q cargo-fuzz
fi
echo "cargo-tools: ready"
