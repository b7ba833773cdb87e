#!/usr/bin/env bash
# Runs the workspace's tests (with the real models) and closes with one
# summary line over every test binary: "tests: N passed, M failed, K skipped".
# Every prerequisite is set up here, so no test may skip: a test whose peer
# or model is missing fails. `TWAKE_AI_TEST_ALLOW_SKIP=1 scripts/test.sh`
# lets such tests return instead; they are listed and counted below.
set -uo pipefail
log=$(mktemp)
skips=$(mktemp)
trap 'rm -f "$log" "$skips"' EXIT
export TWAKE_AI_TEST_SKIPS=$skips
# Dovecot (IMAP), Cyrus (JMAP, CalDAV) and openssl for the connector tests.
scripts/install-deps.sh --test
# The official `openai` Python client drives `twake-ai serve` in one test.
TWAKE_AI_TEST_PYTHON=$(scripts/python-env.sh)
export TWAKE_AI_TEST_PYTHON
# A real OIDC provider (npm oidc-provider) for the OIDC tests.
TWAKE_AI_TEST_NODE_DIR=$(scripts/node-env.sh)
export TWAKE_AI_TEST_NODE_DIR
# A real Matrix homeserver (PyPI matrix-synapse) for the Matrix connector.
TWAKE_AI_TEST_SYNAPSE=$(scripts/synapse-env.sh)
export TWAKE_AI_TEST_SYNAPSE
# Real WebDAV and CalDAV servers (PyPI wsgidav and Radicale).
TWAKE_AI_TEST_DAV=$(scripts/dav-env.sh)
export TWAKE_AI_TEST_DAV
TWAKE_AI_TEST_MODELS=1 cargo test --release --locked --workspace --all-targets "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
# A skipped test returned early and so counts among libtest's "passed".
skipped=$(grep -c '^skipped ' "$skips")
echo
if [[ $skipped -gt 0 ]]; then
    echo "skipped (TWAKE_AI_TEST_ALLOW_SKIP=1):"
    grep '^skipped ' "$skips" | sed 's/^skipped /  /'
fi
echo "tests: $((passed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
