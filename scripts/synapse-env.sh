#!/usr/bin/env bash
# Installs (once) Synapse, the Matrix homeserver the Matrix connector's
# tests start on loopback (PyPI `matrix-synapse`, SQLite), in its own
# virtualenv, and prints that virtualenv's python.
set -euo pipefail
# Shared cache when writable (CI, root), else the user's cache.
cache=/var/cache/twake-ai
mkdir -p "$cache" 2>/dev/null || true
[[ -w "$cache" ]] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/twake-ai"
venv=${TWAKE_AI_SYNAPSE_VENV:-$cache/synapse-venv}
if ! "$venv/bin/python" -c "import synapse" >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "matrix-synapse>=1.140,<2" >&2
fi
echo "$venv/bin/python"
