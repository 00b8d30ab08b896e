#!/usr/bin/env bash
# Installs the Debian packages that gatehouse's tests and demo need, only
# where missing. Idempotent; safe to run on every test run.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v pgbench >/dev/null 2>&1 || need+=(postgresql-contrib)
command -v pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)
[ -x /usr/bin/python3 ] || need+=(python3)
have_pkg python3-psycopg2 || need+=(python3-psycopg2)
have_pkg python3-psycopg || need+=(python3-psycopg)
have_pkg python3-asyncpg || need+=(python3-asyncpg)
have_pkg libpostgresql-jdbc-java || need+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
{ command -v setpriv && command -v unshare; } >/dev/null 2>&1 || need+=(util-linux)
command -v gcc >/dev/null 2>&1 || need+=(gcc)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The Debian package starts a cluster of its own; tests start their own servers.
