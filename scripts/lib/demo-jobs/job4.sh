# Job 4: job robots on; the integration's account is a project admin, so pre-build can mint
# a robot for this job alone.
. "$WORK/prologue.sh"
pre_build
is_job_robot() { case "$HARBOR_USERNAME" in *+ci-job-*) true ;; *) false ;; esac; }
step "pre-build minted a job robot, $HARBOR_USERNAME" is_job_robot
step "HARBOR_PASSWORD is unset in the job's shell; the clients get the robot" test -z "${HARBOR_PASSWORD-}"
# The honest limit (docs/security.md): unset does not clear the shell's initial environment.
in_shell_environ() { sh -c 'tr "\0" "\n" < /proc/$PPID/environ | grep -q "^HARBOR_PASSWORD="'; }
step "not hidden from a hostile job script: /proc/<job shell>/environ still holds it" in_shell_environ
step "skopeo copy pushes hello:robot as the robot" \
  skopeo copy --format v2s2 "oci:$WORK/img:v1" "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:robot"
docker-credential-harbor post-build 2> "$TMPDIR/post-build.log"
step "post-build deleted the robot" grep -q "deleted $HARBOR_USERNAME" "$TMPDIR/post-build.log"
