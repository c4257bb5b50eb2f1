#!/usr/bin/env bash
# Regenerates the captured output in docs/handshake.md: runs `wshub
# --explain` and the scripted client docs/client.py, and puts what wshub
# printed between the capture markers. With --check, only says whether the
# file is current. WSHUB_BIN names the binary (default: a release build).
set -euo pipefail
docs="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$docs/.." && pwd)"
bin="${WSHUB_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --quiet)
  bin="$root/target/release/wshub"
fi

out="$(mktemp)"; trap 'rm -f "$out" "$out.md"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
RUST_LOG=off "$bin" --explain --mode echo --addr 127.0.0.1:0 >"$out" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.05; done
port="$(head -1 "$out" | sed -E 's|.*http://127\.0\.0\.1:([0-9]+)/.*|\1|')"
python3 "$docs/client.py" "$port"
for _ in $(seq 100); do grep -q "TCP connection closed" "$out" && break; sleep 0.05; done
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# The port changes from run to run; the text shows it as 8080.
capture="$(tail -n +2 "$out" | sed "s/127\.0\.0\.1:$port/127.0.0.1:8080/g")"
python3 - "$docs/handshake.md" "$out.md" "$capture" <<'PY'
import sys
src, dst, capture = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src).read()
begin, end = "<!-- capture:begin -->\n", "<!-- capture:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open(dst, "w").write(text[:a] + "```text\n" + capture.strip("\n") + "\n```\n" + text[b:])
PY
if [ "${1:-}" = "--check" ]; then
  if ! diff -u "$docs/handshake.md" "$out.md"; then
    echo "docs/handshake.md is out of date: run bash docs/capture.sh" >&2
    exit 1
  fi
else
  cp "$out.md" "$docs/handshake.md"
  echo "docs/handshake.md updated"
fi
