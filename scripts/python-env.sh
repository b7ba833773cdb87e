#!/usr/bin/env bash
# Creates (once) the Python virtualenv the tests use to drive the server
# with the official `openai` client, and prints its python's path.
set -euo pipefail
# Shared cache when writable (CI, root), else the user's cache.
cache=/var/cache/twake-ai
mkdir -p "$cache" 2>/dev/null || true
[[ -w "$cache" ]] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/twake-ai"
venv=${TWAKE_AI_VENV:-$cache/venv}
if ! "$venv/bin/python" -c "import openai" >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai>=1.50,<3" >&2
fi
echo "$venv/bin/python"
