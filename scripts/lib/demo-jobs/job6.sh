# Job 6: harbor-broker. The job holds no Harbor secret: only the runner's
# DOCKER_CREDENTIAL_HARBOR_BROKER (and CA file) and the job's GitLab id_token, HARBOR_ID_TOKEN.
# pre-build trades the token for a robot that lives as long as the job; post-build releases it.
# The checks ask Harbor (as its admin, from the broker's password file) and the broker's
# /metrics; the admin's password never enters the job's environment.
. "$WORK/prologue.sh"
pre_build
step "pre-build got $HARBOR_USERNAME from harbor-broker" grep -q "robot from harbor-broker (pull and push)" "$TMPDIR/pre-build.log"
# Not unset after the fact as in job 4: the shell's initial environment never held one.
no_harbor_secret() {
  [ -z "${HARBOR_PASSWORD-}" ] && ! tr '\0' '\n' < /proc/$$/environ | grep -q '^HARBOR_PASSWORD=' \
    && ! env | grep -qF -f "$WORK/broker/harbor-password"
}
step "no HARBOR_PASSWORD in the job shell, not even in /proc/<job shell>/environ, nor the minter's" no_harbor_secret
step "skopeo copy pushes hello:broker as the broker's robot" \
  skopeo copy --format v2s2 "oci:$WORK/img:v1" "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:broker"
# Harbor's API as its admin: the robots of project proj.
robots() {
  admin() { printf 'user = "admin:%s"\n' "$(cat "$WORK/broker/harbor-password")" | curl -sS -f -K - --cacert "$DOCKER_CREDENTIAL_HARBOR_CA_FILE" "$HARBOR_URL$1"; }
  pid=$(admin /api/v2.0/projects/proj | sed -n 's/.*"project_id":\([0-9]*\).*/\1/p')
  admin "/api/v2.0/robots?q=Level%3Dproject%2CProjectID%3D$pid&page_size=100"
}
holds() { robots > "$TMPDIR/robots.json" && grep -qF "\"$1\"" "$TMPDIR/robots.json"; }
gone() { robots > "$TMPDIR/robots.json" && ! grep -qF "\"$1\"" "$TMPDIR/robots.json"; }
step "Harbor holds the robot while the job runs" holds "$HARBOR_USERNAME"
docker-credential-harbor post-build 2> "$TMPDIR/post-build.log"
step "post-build released it through harbor-broker" grep -qF "harbor-broker released $HARBOR_USERNAME" "$TMPDIR/post-build.log"
step "the robot is gone from Harbor (its API, asked as admin)" gone "$HARBOR_USERNAME"
metrics() {
  curl -sS -f --cacert "$DOCKER_CREDENTIAL_HARBOR_CA_FILE" "$DOCKER_CREDENTIAL_HARBOR_BROKER/metrics" > "$TMPDIR/metrics" \
    && grep -qx 'harbor_broker_robots_minted_total{access="push"} 1' "$TMPDIR/metrics" \
    && grep -qx 'harbor_broker_robots_released_total 1' "$TMPDIR/metrics"
}
step "harbor-broker's /metrics counts one robot minted and one released" metrics
