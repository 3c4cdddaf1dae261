# shellcheck shell=bash
# Helpers that make sure the local services the tests need are running, starting them where
# this machine has them installed, and failing loudly (never skipping) where it does not.

PG_URL=${STAGELINE_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/postgres}

_pg_ready() {
  "${PYTHON:-python3}" - "$PG_URL" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}

ensure_postgres() {
  _pg_ready && return 0
  echo "PostgreSQL is not answering at $PG_URL; trying to start it..." >&2
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do _pg_ready && return 0; sleep 1; done
  echo "ERROR: PostgreSQL is required by the tests and could not be reached at $PG_URL." >&2
  echo "Install it (apt-get install postgresql) or point STAGELINE_TEST_POSTGRES at one." >&2
  return 1
}

ensure_redis_server() {
  # The execution tests start their own throw-away redis-server (so they can restart it
  # empty); they need the binary, not a running service.
  command -v redis-server >/dev/null 2>&1 && return 0
  echo "ERROR: the tests need the redis-server binary (apt-get install redis-server)." >&2
  return 1
}

ensure_chromium() {
  # The console's browser tests drive Debian's Chromium through Playwright (never a
  # downloaded browser: this machine's network is closed to that).
  [ -x /usr/bin/chromium ] && return 0
  echo "Chromium is missing; installing Debian's chromium package..." >&2
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || true
  fi
  [ -x /usr/bin/chromium ] && return 0
  echo "ERROR: the console tests need /usr/bin/chromium (apt-get install chromium)." >&2
  return 1
}
