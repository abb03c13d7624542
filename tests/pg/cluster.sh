#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: `source tests/pg/cluster.sh` starts one in a
# temporary directory on a free loopback port (as the postgres user when run as root:
# initdb refuses root) and exports POSTRIDER_PG_URL (superuser "postgres", database
# "postgres", trust authentication on loopback only; TLS offered, its CA certificate in
# POSTRIDER_PG_CA); `pg_cluster_stop` removes it.
# Needs PostgreSQL's server binaries (Debian: postgresql; /usr/lib/postgresql/*/bin).

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "PostgreSQL server binaries not found (install postgresql)" >&2
  return 1 2>/dev/null || exit 1
fi
pg_dir=$(mktemp -d /tmp/postrider-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pg_dir"
  as_pg=(runuser -u postgres --)
fi
# TLS: a test CA and a server certificate naming 127.0.0.1 only (the cluster also listens
# on 127.0.0.2, so a test can meet a certificate for another name).
command -v openssl >/dev/null || { echo "openssl is needed (TLS to the test cluster)" >&2; return 1 2>/dev/null || exit 1; }
(
  cd "$pg_dir"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=postrider test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext
  chmod 600 server.key
  [ "$(id -u)" = 0 ] && chown postgres server.key server.pem
) >"$pg_dir/tls.log" 2>&1 || { cat "$pg_dir/tls.log" >&2; return 1 2>/dev/null || exit 1; }
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
  || { cat "$pg_dir/initdb.log" >&2; return 1 2>/dev/null || exit 1; }
echo "host all all 127.0.0.0/8 trust" >> "$pg_dir/data/pg_hba.conf"
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1,127.0.0.2 -c port=$pg_port -c ssl=on -c ssl_cert_file=$pg_dir/server.pem -c ssl_key_file=$pg_dir/server.key -c unix_socket_directories=$pg_dir -c max_connections=200 -c fsync=on -c shared_preload_libraries=pg_stat_statements" \
  start >/dev/null || { cat "$pg_dir/server.log" >&2; return 1 2>/dev/null || exit 1; }
export POSTRIDER_PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
export POSTRIDER_PG_CA="$pg_dir/ca.pem"
export POSTRIDER_PG_DIR="$pg_dir"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port ($pg_dir)"

pg_cluster_stop() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1
  rm -rf "$pg_dir"
}
