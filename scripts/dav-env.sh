#!/usr/bin/env bash
# Installs (once) the WebDAV and CalDAV servers the connector tests start on
# loopback: wsgidav (WebDAV, with cheroot as its HTTP server) and Radicale
# (CalDAV), from PyPI, in their own virtualenv; prints that virtualenv's
# python.
set -euo pipefail
# Shared cache when writable (CI, root), else the user's cache.
cache=/var/cache/twake-ai
mkdir -p "$cache" 2>/dev/null || true
[[ -w "$cache" ]] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/twake-ai"
venv=${TWAKE_AI_DAV_VENV:-$cache/dav-venv}
if ! "$venv/bin/python" -c "import radicale, wsgidav, cheroot" >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "radicale>=3.2,<4" "wsgidav>=4.3,<5" "cheroot>=10" >&2
fi
echo "$venv/bin/python"
