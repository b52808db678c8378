#!/bin/sh
# Installs the Debian packages the tests and the demo use, only when something is missing.
# Real clients and a real registry, never mocks: skopeo, podman, buildah, the docker CLI and
# dockerd, Debian's distribution registry, htpasswd, openssl, curl, strace; busybox and dash
# for the shells job images have; the docker SDK for Python (python3-docker) and newuidmap
# (uidmap) for rootless podman as an unprivileged runner user; dpkg-deb, buildah and skopeo
# also build and check the release (scripts/release); python3-venv for PyPI's
# kubernetes-validate, which scripts/check-deploy runs from a venv under target/ (installed last,
# from PyPI, at the versions scripts/lib/kubernetes-validate.txt pins).
# Usage: scripts/lib/deps.sh [extra-package ...]
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
need=""
# A path is checked for existence: dash's `command -v` accepts any file, bash's only executables.
have() { case $1 in /*) [ -e "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }
for pair in docker-registry:docker-registry skopeo:skopeo podman:podman buildah:buildah \
            htpasswd:apache2-utils openssl:openssl curl:curl strace:strace setpriv:util-linux \
            unshare:util-linux busybox:busybox-static dash:dash docker:docker.io dockerd:docker.io \
            pgrep:procps readelf:binutils /usr/bin/python3:python3-minimal \
            /usr/lib/python3/dist-packages/docker/__init__.py:python3-docker newuidmap:uidmap; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  have "$cmd" || need="$need $pkg"
done
# busybox-static replaces busybox: the same `busybox sh`, and a base for the release's job-image
# test that needs no library.
for pkg in busybox-static python3-venv "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
need=$(printf '%s\n' $need | sort -u | tr '\n' ' ')
if [ -n "${need% }" ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    have sudo || { echo "missing packages:$need; run as root or install them" >&2; exit 1; }
    sudo=sudo
  fi
  echo "installing:$need" >&2
  $sudo apt-get update -q >/dev/null
  # docker.io and docker-registry ship init scripts; policy-rc.d or no systemd keeps them from starting.
  $sudo env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -q --no-install-recommends ca-certificates $need >/dev/null
fi

# kubernetes-validate in a venv of its own (Debian's python3, not the system's site-packages),
# remade when the pinned list changed since it was made.
venv=$top/target/kubernetes-validate
pins=$top/scripts/lib/kubernetes-validate.txt
if ! cmp -s "$pins" "$venv/pins.txt" 2>/dev/null; then
  echo "installing: kubernetes-validate from PyPI into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$pins" >&2
  cp "$pins" "$venv/pins.txt"
fi
