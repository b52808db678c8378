# Job 5: a job image without the binary. The pre_build_script line says so in the job log;
# under DOCKER_CREDENTIAL_HARBOR_VERIFY=strict it fails the job before the build.
. "$WORK/prologue.sh"
PATH=${PATH#"$WORK/bin:"}
expect() {
  out=$( (set -e; pre_build; echo "the job went on") 2>&1 ) || true
  case $out in *"pre-build failed (exit 127)"*) ;; *) echo "$out"; return 1 ;; esac
  case $out in *"the job went on"*) [ "$1" = goes-on ] ;; *) [ "$1" = fails ] ;; esac || { echo "$out"; return 1; }
}
step "warn: the job log says pre-build failed, and the job goes on" expect goes-on
DOCKER_CREDENTIAL_HARBOR_VERIFY=strict
step "strict: the same line fails the job before the build" expect fails
