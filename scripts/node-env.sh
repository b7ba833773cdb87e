#!/usr/bin/env bash
# Installs (once) the `oidc-provider` npm package the OIDC tests start as a
# real provider on loopback, and prints the folder that holds it.
set -euo pipefail
# Shared cache when writable (CI, root), else the user's cache.
cache=/var/cache/twake-ai
mkdir -p "$cache" 2>/dev/null || true
[[ -w "$cache" ]] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/twake-ai"
dir=${TWAKE_AI_NODE_DIR:-$cache/node}
if [[ ! -d "$dir/node_modules/oidc-provider" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent oidc-provider@8 >&2)
fi
echo "$dir"
