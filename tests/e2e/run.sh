#!/usr/bin/env bash
# Browser end-to-end tests: Debian's Chromium, driven by playwright-core
# (which never downloads a browser), against the release wshub binary.
# Works unattended (CI=true, no terminal). Screenshots go to target/e2e/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update
  as_root apt-get install -y chromium
fi

# nodes.test.mjs puts two nodes sharing a redis-server behind Debian's
# nginx. The package is `nginx` (Debian 12's `nginx-light` is only `nginx`
# plus the echo module); /usr/sbin is not on every user's PATH.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "e2e: installing nginx (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update
  as_root apt-get install -y nginx
fi
bash "$root/tests/setup/redis.sh"

command -v node >/dev/null || { echo "e2e: node is required (>= 20)" >&2; exit 1; }

# npm ci when node_modules is missing or older than the lock file.
stamp="$here/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ] || [ "$here/package.json" -nt "$stamp" ]; then
  echo "e2e: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund)
fi

echo "e2e: cargo build --release"
(cd "$root" && cargo build --release)

mkdir -p "$root/target/e2e"
rm -f "$root"/target/e2e/failed-*.png
cd "$here"
echo "e2e: over http:// and ws://"
node --test --test-reporter=spec chat.test.mjs rooms.test.mjs subprotocol.test.mjs wire.test.mjs pages.test.mjs nodes.test.mjs

# The page's suites again over https:// and wss://, with a self-signed
# certificate made for this run (Chromium is told to accept it).
# pages.test.mjs stays on http: its pages come from file:// and from
# other servers; so does nodes.test.mjs, whose nginx speaks plain http.
if ! command -v openssl >/dev/null; then
  echo "e2e: installing openssl (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update
  as_root apt-get install -y openssl
fi
certs="$root/target/e2e/tls"
mkdir -p "$certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$certs/key.pem" -out "$certs/cert.pem" 2>/dev/null
echo "e2e: over https:// and wss://"
WSHUB_E2E_TLS_CERT="$certs/cert.pem" WSHUB_E2E_TLS_KEY="$certs/key.pem" \
  node --test --test-reporter=spec chat.test.mjs rooms.test.mjs subprotocol.test.mjs wire.test.mjs
