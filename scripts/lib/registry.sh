#!/bin/sh
# Starts a real distribution registry (Debian's docker-registry) on 127.0.0.1:PORT with TLS
# from a CA made here and htpasswd users read from stdin as "user:password" lines, so no
# password is ever on a command line. Returns once the registry answers.
# Usage: printf 'user:pass\n' | scripts/lib/registry.sh DIR PORT
# Leaves: DIR/pki/ca.crt, DIR/certs.d/127.0.0.1:PORT/ca.crt, DIR/registry.pid, DIR/registry.log
set -eu
dir=$1; port=$2
mkdir -p "$dir/pki" "$dir/data" "$dir/certs.d/127.0.0.1:$port"
cd "$dir/pki"
ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=docker-credential-harbor-test-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req $ec -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out server.crt 2>/dev/null
cp ca.crt "$dir/certs.d/127.0.0.1:$port/ca.crt"
: > "$dir/htpasswd"
while IFS=: read -r user pass; do
  [ -n "$user" ] || continue
  printf '%s\n' "$pass" | htpasswd -iBn "$user" | grep . >> "$dir/htpasswd"
done
cat > "$dir/registry.yml" <<YML
version: 0.1
log: {level: info}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
  secret: not-a-secret
  tls: {certificate: $dir/pki/server.crt, key: $dir/pki/server.key}
auth:
  htpasswd: {realm: basic-realm, path: $dir/htpasswd}
YML
docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
echo $! > "$dir/registry.pid"
i=0
while [ $i -lt 100 ]; do
  if curl -so /dev/null --cacert "$dir/pki/ca.crt" "https://127.0.0.1:$port/v2/"; then exit 0; fi
  kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null || break
  sleep 0.1; i=$((i + 1))
done
echo "registry on 127.0.0.1:$port did not start:" >&2
tail -5 "$dir/registry.log" >&2
exit 1
