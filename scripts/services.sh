# shellcheck shell=bash
# Helpers that make sure the local services the tests need are running, starting them where
# this machine has them installed, and failing loudly (never skipping) where it does not.

PG_URL=${STAGELINE_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_HOST=${STAGELINE_TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT=${STAGELINE_TEST_REDIS_PORT:-6379}

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

_redis_ready() {
  "${PYTHON:-python3}" - "$REDIS_HOST" "$REDIS_PORT" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), socket_connect_timeout=2).ping()
PY
}

ensure_redis() {
  _redis_ready && return 0
  echo "Redis is not answering at $REDIS_HOST:$REDIS_PORT; trying to start it..." >&2
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 20); do _redis_ready && return 0; sleep 0.5; done
  echo "ERROR: Redis is required by the tests and could not be reached at $REDIS_HOST:$REDIS_PORT." >&2
  echo "Install it (apt-get install redis-server) or set STAGELINE_TEST_REDIS_HOST/PORT." >&2
  return 1
}
