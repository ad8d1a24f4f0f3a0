#!/usr/bin/env bash
# Runs the example IVR top to bottom on this machine, no phone needed:
#   tonegate serve   (HTTPS/WSS with a throwaway self-signed certificate)
#   tonegate replay  (the caller: a raw-dialect call keying 1234, then 2)
#   ivr.py           (the app, with the official Azure Call Automation SDK)
#
# Environment (all optional):
#   TONEGATE  the tonegate binary (default: `tonegate` on the PATH, else built with cargo)
#   PYTHON    a Python with azure-communication-callautomation (default: a venv made
#             in examples/ivr/.venv from requirements.txt)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

tonegate="${TONEGATE:-$(command -v tonegate || true)}"
if [ -z "$tonegate" ]; then
    (cd "$here/../.." && cargo build --release --quiet)
    tonegate="$here/../../target/release/tonegate"
fi
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ ! -x "$here/.venv/bin/python" ]; then
        python3 -m venv "$here/.venv"
        "$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
    fi
    python="$here/.venv/bin/python"
fi

# Call Automation speaks only https: a certificate for 127.0.0.1, trusted below by the
# SDK (REQUESTS_CA_BUNDLE) and by the caller (--ca-cert).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
"$python" "$here/prompts.py" "$work/prompts"
TONEGATE_ACCESS_KEY="$(openssl rand -base64 32)"
export TONEGATE_ACCESS_KEY

"$tonegate" serve --listen 127.0.0.1:0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    --prompt-dir "$work/prompts" 2>"$work/serve.log" &
pids+=($!)
addr=""
for _ in $(seq 600); do
    addr="$(sed -n 's/.*tonegate listening .*addr=\([^ ]*\).*/\1/p' "$work/serve.log" | head -n 1)"
    [ -n "$addr" ] && break
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "run.sh: tonegate serve did not start:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
echo "run.sh: tonegate serving https://$addr/"

# The caller: 3 s of silence (the welcome prompt), the PIN, a pause (each comma 500 ms),
# then menu choice 2; then it stays on the line 12 s for the hold.
"$tonegate" replay --url "wss://$addr/media/raw" --ca-cert "$work/cert.pem" \
    --call-id ivr-demo --lead-ms 3000 --digits "1234,,,,2" --tail-ms 12000 \
    >"$work/caller.log" 2>&1 &
caller=$!
pids+=("$caller")

status=0
REQUESTS_CA_BUNDLE="$work/cert.pem" TONEGATE_ENDPOINT="https://$addr/" \
    TONEGATE_CALL_ID=ivr-demo IVR_PROMPTS="$work/prompts" \
    "$python" "$here/ivr.py" || status=$?
if [ "$status" -eq 0 ]; then
    wait "$caller" || status=$?
fi
echo "run.sh: the caller's side (tonegate replay):"
sed 's/^/  /' "$work/caller.log"
exit "$status"
