# The runner host, before any job: scripts/install adds the two hook lines to the runner's
# config.toml, read as TOML (a script line starting with '[' is no table header), keeps the
# file's mode, and a second run changes nothing.
. "$WORK/prologue.sh"
cfg=$WORK/runner/config.toml
mkdir -p "$WORK/runner"
printf '%s\n' 'concurrent = 2' '' '[[runners]]' '  name = "shell"' '  token = "glrt-demo-token"' \
  '  executor = "shell"' "  pre_get_sources_script = '''" '[ -d /cache ] || mkdir -p /cache' "'''" '' \
  '[[ runners ]]' '  name = "docker"' '  executor = "docker"' '  [runners.docker]' '    image = "alpine"' > "$cfg"
chmod 600 "$cfg"
install_hooks() {
  "$INSTALL" --prefix "$WORK/runner" --binary "$WORK/bin/docker-credential-harbor" --runner-config "$cfg" > "$TMPDIR/install.out"
  grep -q "$1" "$TMPDIR/install.out" || { cat "$TMPDIR/install.out"; return 1; }
}
# Python's own TOML reader (tomllib): every table has the hooks once, the script is intact.
parses() {
  python3 -c 'import sys, tomllib
r = tomllib.load(open(sys.argv[1], "rb"))["runners"]
assert [t["pre_build_script"].count("docker-credential-harbor pre-build ||") for t in r] == [1, 1]
assert r[0]["pre_get_sources_script"] == "[ -d /cache ] || mkdir -p /cache\n"' "$cfg" && [ "$(stat -c %a "$cfg")" = 600 ]
}
step "scripts/install adds the hooks to both [[runners]] tables of config.toml" install_hooks "added 4 hook line"
step "config.toml still parses (python3 tomllib), its script intact, still mode 600" parses
step "a second install changes nothing" install_hooks "already has the hooks"
