#!/usr/bin/env bash
# Installs (once) the npm packages of the tests that need Node: the
# `oidc-provider` the OIDC tests start as a real provider on loopback;
# `playwright-core`, which drives Debian's /usr/bin/chromium in the web UI
# test (it downloads no browser); `axe-core`, the accessibility checker that
# test runs on every page. Prints the folder that holds them.
set -euo pipefail
# Shared cache when writable (CI, root), else the user's cache.
cache=/var/cache/twake-ai
mkdir -p "$cache" 2>/dev/null || true
[[ -w "$cache" ]] || cache="${XDG_CACHE_HOME:-$HOME/.cache}/twake-ai"
dir=${TWAKE_AI_NODE_DIR:-$cache/node}
if [[ ! -d "$dir/node_modules/oidc-provider" || ! -d "$dir/node_modules/playwright-core" || ! -d "$dir/node_modules/axe-core" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent oidc-provider@8 playwright-core@1 axe-core@4 >&2)
fi
echo "$dir"
