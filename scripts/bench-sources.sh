#!/usr/bin/env bash
# The connected-sources benchmark (`make bench-sources`): starts a Dovecot
# (an empty test mailbox, plain IMAP) and a Synapse (accounts @twake and
# @poster, SQLite) of its own on loopback, runs `twake-ai bench --only
# sources` against them, and writes its rows into docs/BENCHMARKS.md (the
# other groups' rows are kept). Not a test.
set -euo pipefail
bin=${1:?usage: scripts/bench-sources.sh PATH-TO-twake-ai}
scripts/install-deps.sh --test
dir=$(mktemp -d)
pid=""
hspid=""
cleanup() {
    [[ -n "$pid" ]] && kill -s KILL -- "-$pid" 2>/dev/null || true
    [[ -n "$hspid" ]] && kill -s KILL -- "-$hspid" 2>/dev/null || true
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

# Synapse (PyPI matrix-synapse, in its own virtualenv).
python=$(scripts/synapse-env.sh)
hs="$dir/synapse"
mkdir -p "$hs"
hsport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
limit="{per_second: 1000, burst_count: 1000}"
cat > "$hs/homeserver.yaml" <<YAML
server_name: localhost
pid_file: $hs/hs.pid
listeners:
  - port: $hsport
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: $hs/hs.db
media_store_path: $hs/media
registration_shared_secret: bench-secret
report_stats: false
signing_key_path: $hs/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
rc_message: $limit
rc_login:
  address: $limit
  account: $limit
  failed_attempts: $limit
rc_joins:
  local: $limit
rc_registration: $limit
rc_invites:
  per_room: $limit
  per_user: $limit
YAML
"$python" -m synapse.app.homeserver -c "$hs/homeserver.yaml" --generate-keys >/dev/null 2>&1
setsid "$python" -m synapse.app.homeserver -c "$hs/homeserver.yaml" > "$hs/synapse.log" 2>&1 &
hspid=$!
disown
for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$hsport") 2>/dev/null && break
    sleep 0.2
done
for user in twake poster; do
    "$(dirname "$python")/register_new_matrix_user" -u "$user" -p bench-pw --no-admin -k bench-secret \
        "http://127.0.0.1:$hsport" >/dev/null
done

IMAP_PASSWORD=bench-pw MATRIX_PASSWORD=bench-pw "$bin" bench --only sources \
    --imap-server "127.0.0.1:$port" --imap-insecure --imap-secret-env IMAP_PASSWORD \
    --matrix-homeserver "http://127.0.0.1:$hsport" --output docs/BENCHMARKS.md
