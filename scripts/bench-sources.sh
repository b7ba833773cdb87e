#!/usr/bin/env bash
# The connected-sources benchmark (`make bench-sources`): starts a Dovecot
# of its own on loopback (an empty test mailbox, plain IMAP), runs
# `twake-ai bench --only sources` against it, and writes its rows into
# docs/BENCHMARKS.md (the other groups' rows are kept). Not a test.
set -euo pipefail
bin=${1:?usage: scripts/bench-sources.sh PATH-TO-twake-ai}
scripts/install-deps.sh --test
dir=$(mktemp -d)
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill -s KILL -- "-$pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "alice@valmont.fr:{PLAIN}bench-pw" > "$dir/users"
mkdir -p "$dir/mail"
if [[ $(id -u) -eq 0 ]]; then
    uid=dovecot users=""
    chmod 755 "$dir"
    chown dovecot:dovecot "$dir/mail"
else
    uid=$(id -un) users="default_internal_user = $uid
default_login_user = $uid"
fi
cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
$users
first_valid_uid = 1
first_valid_gid = 1
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$uid gid=$uid home=$dir/mail/%u
}
service imap-login {
  inet_listener imap {
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
setsid dovecot -F -c "$dir/dovecot.conf" &
pid=$!
disown
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
IMAP_PASSWORD=bench-pw "$bin" bench --only sources --imap-server "127.0.0.1:$port" --imap-insecure \
    --imap-secret-env IMAP_PASSWORD --output docs/BENCHMARKS.md
