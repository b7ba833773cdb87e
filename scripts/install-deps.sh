#!/usr/bin/env bash
# Installs, once, what building and running TwakeAI needs on Debian/Ubuntu:
# cmake and clang/libclang for llama.cpp (built by the llama-cpp-2 crate),
# Python 3 with pip for `twake-ai models pull` and venv for the tests that
# drive the server with the official `openai` client; Node.js and npm for
# the real OIDC provider (`oidc-provider`) of the OIDC tests. With --test,
# also what the connector tests start on loopback: Dovecot (IMAP), Cyrus
# (JMAP, CalDAV) and openssl (their certificates), and Chromium for the web
# UI's end-to-end test. Idempotent: does nothing when everything is
# there.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v clang >/dev/null 2>&1 || missing+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || missing+=(python3-venv)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ "${1:-}" == --test ]]; then
    # Installing Dovecot may start the system's own IMAP service; the tests
    # start theirs on other ports, with their own configuration.
    command -v dovecot >/dev/null 2>&1 || missing+=(dovecot-imapd)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # Cyrus 3.6's HTTP server (JMAP, CalDAV: cyrus-caldav, with
    # cyrus-common's master and lmtpd) and saslpasswd2 for its test users.
    # Not cyrus-imapd: it conflicts with dovecot-imapd (both are the
    # imap-server); the tests deliver to Cyrus over LMTP and act over JMAP.
    [[ -x /usr/lib/cyrus/bin/httpd ]] || missing+=(cyrus-caldav)
    command -v saslpasswd2 >/dev/null 2>&1 || missing+=(sasl2-bin)
    # Headless Chromium for the web UI test (driven by playwright-core).
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
fi

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: no Rust toolchain found; install Rust 1.95 or newer (https://rustup.rs) and run again" >&2
    exit 1
fi
