#!/usr/bin/env bash
# Checks the crate graph against ARCHITECTURE.md: the pure crates
# (twake-types, twake-extract) depend neither on tokio nor on the index or
# model crates; twake-llm does not depend on tokio or on the index.
# Inside twake-core, scripts/check-modules.py checks the capability folders'
# layering and that no modules form a circle.
set -euo pipefail
fail=0
check() { # crate forbidden...
    local crate=$1; shift
    local tree
    tree=$(cargo tree --locked -e normal -p "$crate" --prefix none 2>/dev/null | awk '{print $1}' | sort -u)
    for dep in "$@"; do
        if grep -qx "$dep" <<<"$tree"; then
            echo "layering violation: $crate depends on $dep" >&2
            fail=1
        fi
    done
}
check twake-types tokio sqlx tantivy llama-cpp-2 twake-extract twake-index twake-llm twake-core
check twake-extract tokio sqlx tantivy llama-cpp-2 twake-index twake-llm twake-core
check twake-llm tokio sqlx tantivy twake-index twake-core
check twake-index llama-cpp-2 twake-llm twake-core twake-extract
check twake-core clap indicatif axum twake-server
check twake-server clap indicatif
python3 "$(dirname "$0")/check-modules.py" || fail=1
[[ $fail -eq 0 ]] && echo "layering: ok"
exit $fail
