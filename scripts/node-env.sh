#!/usr/bin/env bash
# Installs (once) the `oidc-provider` npm package the OIDC tests start as a
# real provider on loopback, and prints the folder that holds it.
set -euo pipefail
dir=${TWAKE_AI_NODE_DIR:-/var/cache/twake-ai/node}
if [[ ! -d "$dir/node_modules/oidc-provider" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent oidc-provider@8 >&2)
fi
echo "$dir"
