# Job 2 (negative control): the same registry, no hook.
. "$WORK/prologue.sh"
step "without the hook, podman pull is refused" refused podman pull -q "$IMAGE:v1"
