# Job 1: a robot of project proj, as GitLab's Harbor integration hands it to the job.
. "$WORK/prologue.sh"
pre_build
step "pre-build verified the robot and exported HARBOR_REGISTRY=$HARBOR_REGISTRY" \
  grep -q "credentials verified" "$TMPDIR/pre-build.log"
step "skopeo copy pushes hello:v1 (no login, no --creds, no --cert-dir)" \
  skopeo copy --format v2s2 "oci:$WORK/img:v1" "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:v1"
step "podman pull fetches it" podman pull -q "$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:v1"
step "buildah push pushes it again as :buildah" \
  buildah push -q "$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:v1" "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:buildah"
step "docker manifest inspect reads it (docker CLI, no daemon)" \
  docker manifest inspect "$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:buildah"
if [ -n "$DOCKERD_HOST" ]; then
  dpush() {
    docker -H "$DOCKERD_HOST" pull -q "$1:v1" && docker -H "$DOCKERD_HOST" tag "$1:v1" "$1:dockerd" \
      && docker -H "$DOCKERD_HOST" push -q "$1:dockerd"
  }
  step "docker push through dockerd (the CLI hands the helper's credentials to the daemon)" \
    dpush "$HARBOR_REGISTRY/$HARBOR_PROJECT/hello"
else
  echo "  skip  docker push through dockerd (it needs root and the docker.io package)"
fi
no_secret() {
  ! grep -rqF -e "$HARBOR_PASSWORD" -e "$(printf '%s:%s' "$HARBOR_USERNAME" "$HARBOR_PASSWORD" | base64 -w0)" \
    "$RUNNER_TEMP_PROJECT_DIR" "$HOME"
}
step "no password, no base64 user:password in any file the clients read" no_secret
docker-credential-harbor post-build 2> /dev/null
step "post-build removed the job's client configuration" test ! -e "$RUNNER_TEMP_PROJECT_DIR/docker-credential-harbor"
