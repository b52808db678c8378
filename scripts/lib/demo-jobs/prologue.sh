# Sourced by each demo job: what the runner's shell provides, plus `step`, which runs one
# command and prints one ok/FAIL line, so the demo reads as a list.
if [ -n "$PRIVATE_ETC" ]; then
  mount -t tmpfs tmpfs /etc/docker && mount -t tmpfs tmpfs /etc/containers
  printf '{"default":[{"type":"insecureAcceptAnything"}]}' > /etc/containers/policy.json
fi
step() {
  what=$1; shift
  if "$@" > "$TMPDIR/step.log" 2>&1; then echo "  ok    $what"
  else echo "  FAIL  $what"; sed 's/^/        /' "$TMPDIR/step.log" | tail -3; fi
}
refused() { ! "$@"; }
# The runner's pre_build_script line, as docs/gitlab-runner.md shows it; pre-build's summary
# goes to a log the steps read.
pre_build() { eval "$(docker-credential-harbor pre-build 2> "$TMPDIR/pre-build.log" || { echo "docker-credential-harbor pre-build failed (exit $?): this job has no Harbor login from it" >&2; [ "${DOCKER_CREDENTIAL_HARBOR_VERIFY-}" != strict ] || echo false; })"; }
