# Job 3 (negative control): a guest of project proj.
. "$WORK/prologue.sh"
pre_build
step "pre-build warned before the build: gary may pull but not push" \
  grep -q "gary may pull from project proj but not push" "$TMPDIR/pre-build.log"
step "the guest can pull" skopeo inspect "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:v1"
step "the guest cannot push" refused skopeo copy "oci:$WORK/img:v1" "docker://$HARBOR_REGISTRY/$HARBOR_PROJECT/hello:guest"
docker-credential-harbor post-build 2> /dev/null
