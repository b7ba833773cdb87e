#!/usr/bin/env bash
# Creates (once) the Python virtualenv the tests use to drive the server
# with the official `openai` client, and prints its python's path.
set -euo pipefail
venv=${TWAKE_AI_VENV:-/var/cache/twake-ai/venv}
if ! "$venv/bin/python" -c "import openai" >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai>=1.50,<3" >&2
fi
echo "$venv/bin/python"
