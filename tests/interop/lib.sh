# Shared helpers of the interop scripts (sourced, not run).

# A free TCP port on loopback.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (up to 10 s) until something listens on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on 127.0.0.1:$1 after 10 s" >&2
  return 1
}

# Waits (up to 10 s) until the command given as arguments succeeds. Always returns 0: the
# caller's own check afterwards says what is missing.
wait_until() {
  for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
  return 0
}

# Succeeds when FILE has exactly COUNT lines matching PATTERN (a missing file has none).
count_is() { [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" = "$3" ]; }

# Writes a throwaway Dovecot configuration: DIR holds its state, PORT is its plain IMAP
# port, MAIL_LOCATION its mail_location; any further text is appended as is. Logins take
# the static password "secret"; mail belongs to nobody (65534).
write_dovecot_conf() {
  local file=$1 dir=$2 port=$3 location=$4 extra=${5:-}
  mkdir -p "$dir/run"
  cat > "$file" <<CONF
base_dir = $dir/run
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
mail_location = $location
mail_uid = 65534
mail_gid = 65534
first_valid_uid = 1
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$dir/home
}
service imap-login {
  inet_listener imap {
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
$extra
CONF
}

# Starts BINARY as an IMAP-only postrider in DIR for DOMAIN (plain-text logins allowed, as
# imaptest logs in without TLS), with the account "tester" (password "secret"); TOML is
# added to its [smtp] section. Sets `imap` to its IMAP port and appends its pid to `pids`.
start_imap_postrider() {
  local bin=$1 d=$2 domain=$3 smtp_extra=${4:-} smtp storage=""
  mkdir -p "$d"
  # MAILBOX_FORMAT=maildir in the environment: the same runs on Maildir mailboxes.
  [ -n "${MAILBOX_FORMAT:-}" ] && storage="[storage]
mailbox_format = \"$MAILBOX_FORMAT\""
  smtp=$(port); imap=$(port)
  cat > "$d/postrider.toml" <<TOML
hostname = "mx.$domain"
domains = ["$domain"]
data_dir = "$d/data"
log = "warn"
[smtp]
listen = ["127.0.0.1:$smtp"]
$smtp_extra
[submission]
listen = []
listen_tls = []
[dns]
servers = ["127.0.0.1:9"]   # never the machine's resolver
[pop3]
listen = []
listen_tls = []
[imap]
listen = ["127.0.0.1:$imap"]
listen_tls = []
[web]
listen = []
listen_tls = []
[lmtp]
listen = []
[managesieve]
listen = []
[auth]
allow_plaintext = true      # the test clients log in without TLS
$storage
TOML
  echo secret | "$bin" -c "$d/postrider.toml" user add tester --password-stdin
  "$bin" -c "$d/postrider.toml" serve 2>"$d/server.log" &
  pids+=($!)
  wait_port "$imap"
}
