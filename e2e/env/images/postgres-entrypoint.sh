#!/bin/sh
# draft e2e base image: what the official postgres image does at start, for
# Debian's PostgreSQL. With an empty $PGDATA it makes a cluster whose
# superuser is $POSTGRES_USER (postgres) with $POSTGRES_PASSWORD, listening on
# every address with password authentication, and the database $POSTGRES_DB
# (the user's name); a $PGDATA that holds a cluster is used as it is. Runs
# as root only to hand the data folder to the postgres user.
set -eu
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /run/postgresql
  chown -R postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres: POSTGRES_PASSWORD is empty: set it (draft's chart takes it from the Secret NAME-credentials)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres -c "CREATE DATABASE \"$db\"" >/dev/null
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "postgres: made the cluster in $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" "$@"
