# Job 7: a Kubernetes node pulls from Harbor with no image pull secret. The kubelet runs
# `docker-credential-harbor kubelet-credential-provider` with the request on stdin and only its
# CredentialProviderConfig's env; skopeo then pulls with the answer, as the kubelet's runtime
# would. Static mode answers the runner-side config's robot; federated mode trades the pod's
# service-account token (from the Kubernetes issuer double) for a pull robot at harbor-broker.
# Answers and auth files are 0600 under $TMPDIR; no secret is ever on a command line.
. "$WORK/prologue.sh"
umask 077
mkdir -p "$TMPDIR/certs" && cp "$DOCKER_CREDENTIAL_HARBOR_CA_FILE" "$TMPDIR/certs/ca.crt"
# The v1 request as the kubelet encodes it; $2, when set, is the pod's service-account token.
request() {
  printf '{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"%s"' "$1"
  [ -z "${2-}" ] || printf ',"serviceAccountToken":"%s"' "$2"
  printf '}\n'
}
# The provider as the kubelet runs it: exactly the env entries given, the request on stdin.
provider() { request "$IMAGE:v1" "${TOKEN-}" | env -i "$@" "$WORK/bin/docker-credential-harbor" kubelet-credential-provider; }
static_answer() { provider DOCKER_CREDENTIAL_HARBOR_CONFIG="$WORK/kubelet/config.json" > "$TMPDIR/answer.json"; }
federated() {
  provider DOCKER_CREDENTIAL_HARBOR_BROKER="$BROKER_URL" HARBOR_URL="$HARBOR_URL" \
    DOCKER_CREDENTIAL_HARBOR_CA_FILE="$DOCKER_CREDENTIAL_HARBOR_CA_FILE" > "$TMPDIR/answer.json" 2> "$TMPDIR/provider.err"
}
# The answer's `auth` as a containers auth file (its keys, `host:port` or
# `host:port/project`, are auth.json keys too), then skopeo pulls with it.
pull_with_answer() {
  python3 -c 'import base64, json, sys
auth = json.load(open(sys.argv[1]))["auth"]
print(json.dumps({"auths": {k: {"auth": base64.b64encode((v["username"] + ":" + v["password"]).encode()).decode()} for k, v in auth.items()}}))' \
    "$TMPDIR/answer.json" > "$TMPDIR/kubelet-auth.json" \
    && rm -rf "$TMPDIR/pulled-$1" \
    && skopeo copy --src-authfile "$TMPDIR/kubelet-auth.json" --src-cert-dir "$TMPDIR/certs" "docker://$IMAGE:v1" "oci:$TMPDIR/pulled-$1:v1"
}
keyed() { grep -qF "\"auth\":{\"$1\":{\"username\"" "$TMPDIR/answer.json"; }
sa_token() {
  curl -sS -f --cacert "$KUBERNETES_CA_FILE" -X POST "$KUBERNETES_URL/-/double/sa_token" \
    -d "{\"namespace\":\"$1\",\"service_account\":\"$2\",\"pod\":\"$2-0\",\"node\":\"node-1\"}"
}

unset TOKEN
static_ok() { static_answer && keyed "$HARBOR_REGISTRY" && ! grep -q cacheDuration "$TMPDIR/answer.json"; }
step "static: the provider answers the runner-side config's robot, keyed $HARBOR_REGISTRY" static_ok
step "static: skopeo pulls proj/hello with it" pull_with_answer static

TOKEN=$(sa_token ci builder)
federated_ok() { federated && keyed "$HARBOR_REGISTRY/proj" && grep -q '"username":"robot\$proj+hk-' "$TMPDIR/answer.json"; }
step "federated: service account ci/builder's token gets a pull robot from harbor-broker, keyed $HARBOR_REGISTRY/proj" federated_ok
step "federated: skopeo pulls proj/hello with it" pull_with_answer federated

TOKEN=$(sa_token other builder)
other_refused() { ! federated && grep -qF 'no [[kubernetes_rules]] entry matches service account other/builder' "$TMPDIR/provider.err"; }
step "another namespace's token is refused with the broker's reason" other_refused

metrics() {
  curl -sS -f --cacert "$DOCKER_CREDENTIAL_HARBOR_CA_FILE" "$BROKER_URL/metrics" > "$TMPDIR/metrics" \
    && grep -qx 'harbor_broker_requests_total{endpoint="kubernetes_credentials",status="201"} 1' "$TMPDIR/metrics" \
    && grep -qx 'harbor_broker_requests_total{endpoint="kubernetes_credentials",status="403"} 1' "$TMPDIR/metrics"
}
step "harbor-broker's /metrics counts the Kubernetes mint and the refusal" metrics
