#!/usr/bin/env bash
# Airflow 3 with the CeleryExecutor on this machine: Redis (broker), the API server (UI, REST and
# execution API), the scheduler, the DAG processor and two Celery workers, one serving the `default`
# queue and one serving `gpu` (the training DAG's `train` task, LINEREC_TRAIN_QUEUE=gpu) and `default`.
# Postgres holds the metadata database and Celery's task results; connections come from the
# environment, as for scripts/airflow.sh.
#
#   scripts/airflow_celery.sh [start]   prepare, start every component, stay in the foreground;
#                                       Ctrl-C (or SIGTERM) stops them all
#   scripts/airflow_celery.sh stop      stop a stack started from another shell (pid files in $AIRFLOW_HOME/run)
#   scripts/airflow_celery.sh status    which components run, with their pids and logs
#   scripts/airflow_celery.sh env       prepare only, and print the settings (never a secret)
#
# Environment (all optional):
#   AIRFLOW_HOME                 Airflow's home (default $LINEREC_STATE_DIR/airflow-celery): logs/, run/ (pids),
#                                redis/ (the broker's data), generated secrets (mode 0600)
#   AIRFLOW_HOST, AIRFLOW_PORT   API server address (default 127.0.0.1 and the first free port from 8090)
#   LINEREC_REDIS_PORT           Redis port (default: the first free port from 6379)
#   LINEREC_REDIS_BIND           addresses Redis listens on (default 127.0.0.1; a worker on another machine
#                                needs an address it can reach; Redis always requires the generated password)
#   LINEREC_AIRFLOW_DB           metadata database name on linerec's Postgres (default airflow_celery),
#                                created when missing; AIRFLOW__DATABASE__SQL_ALCHEMY_CONN overrides it
#   LINEREC_TRAIN_QUEUE          queue of the training task (default gpu)
#   LINEREC_CPU_WORKER_QUEUES    queues of the first worker (default: default)
#   LINEREC_GPU_WORKER_QUEUES    queues of the second worker (default: $LINEREC_TRAIN_QUEUE,default)
#   LINEREC_WORKER_CONCURRENCY   task slots of each worker (default 1: a linerec task holds TensorFlow)
#   AIRFLOW__CORE__PARALLELISM   tasks queued or running at once (default: both workers' slots, plus 2)
#   DATABASE_URL, S3_ENDPOINT_URL, AWS_*, LABEL_STUDIO_*   as for linerec; they become the Airflow
#                                connections linerec_postgres, linerec_s3 and linerec_label_studio
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "[airflow-celery] $*"; }
die() { echo "[airflow-celery] ERROR: $*" >&2; exit 1; }

VENV=${VENV:-.venv}
PY="$PWD/$VENV/bin/python"
AIRFLOW="$PWD/$VENV/bin/airflow"
[[ -x "$PY" && -x "$AIRFLOW" ]] || die "no virtualenv with Airflow at $VENV; run \`make setup\` first"

export LINEREC_STATE_DIR=${LINEREC_STATE_DIR:-$PWD/.state}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$LINEREC_STATE_DIR/airflow-celery}
RUN="$AIRFLOW_HOME/run"
LOGS="$AIRFLOW_HOME/logs"
COMPONENTS=(redis api-server scheduler dag-processor worker-cpu worker-gpu)

pid_of() {  # the pid of a running component, or nothing
    local f="$RUN/$1.pid" pid
    [[ -f "$f" ]] || return 0
    pid=$(<"$f")
    kill -0 "$pid" 2>/dev/null && echo "$pid" || true
}

stop_all() {
    # Each component runs in a process group of its own (setsid): SIGTERM to the group, SIGKILL to
    # what is left after a grace period (Celery workers finish the task they run in that time).
    local name pid pids=() deadline
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do  # workers first, Redis last
        name=${COMPONENTS[i]}
        [[ -f "$RUN/$name.pid" ]] || continue
        pid=$(<"$RUN/$name.pid")
        # the group may outlive its leader (a worker's task processes): signal it either way
        kill -TERM -- "-$pid" 2>/dev/null && pids+=("$pid") || true
    done
    deadline=$((SECONDS + ${LINEREC_STOP_GRACE:-30}))
    for pid in "${pids[@]}"; do
        while kill -0 -- "-$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    rm -f "$RUN"/*.pid
    ((${#pids[@]})) && say "stopped ${#pids[@]} components" || true
}

case "${1:-start}" in
    stop) stop_all; exit 0 ;;
    status)
        for name in "${COMPONENTS[@]}"; do
            pid=$(pid_of "$name")
            printf '[airflow-celery] %-14s %-10s %s\n' "$name" "${pid:-stopped}" "$LOGS/$name.log"
        done
        exit 0 ;;
    start|env) ;;
    *) die "unknown command ${1}; use start, stop, status or env" ;;
esac

for name in "${COMPONENTS[@]}"; do
    [[ -z "$(pid_of "$name")" ]] || die "$name already runs (pid $(pid_of "$name")); \`$0 stop\` stops that stack"
done
command -v redis-server >/dev/null || die "redis-server is missing; \`make setup\` installs it (Debian package redis-server)"
mkdir -p "$AIRFLOW_HOME" "$RUN" "$LOGS" "$AIRFLOW_HOME/redis"

free_port() {  # the first free port from $1 on 127.0.0.1
    "$PY" - "$1" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
while True:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            break
        except OSError:
            port += 1
print(port)
PYEOF
}

# ---------------------------------------------------------------- where and what
HOST=${AIRFLOW_HOST:-127.0.0.1}
PORT=${AIRFLOW_PORT:-$(free_port 8090)}
REDIS_PORT=${LINEREC_REDIS_PORT:-$(free_port 6379)}
REDIS_BIND=${LINEREC_REDIS_BIND:-127.0.0.1}
LOG_PORT_CPU=$(free_port 8793)
LOG_PORT_GPU=$(free_port $((LOG_PORT_CPU + 1)))
export LINEREC_TRAIN_QUEUE=${LINEREC_TRAIN_QUEUE:-gpu}
CPU_QUEUES=${LINEREC_CPU_WORKER_QUEUES:-default}
GPU_QUEUES=${LINEREC_GPU_WORKER_QUEUES:-$LINEREC_TRAIN_QUEUE,default}
CONCURRENCY=${LINEREC_WORKER_CONCURRENCY:-1}

export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-$((2 * CONCURRENCY + 2))}
export AIRFLOW__API__HOST="$HOST"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__WORKERS=${AIRFLOW__API__WORKERS:-1}
export AIRFLOW__API__BASE_URL="http://$HOST:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://$HOST:$PORT/execution/"
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}
# Celery records which worker ran each task (celery_taskmeta.worker, joined to a task instance by its
# external_executor_id). A message not acknowledged within the visibility timeout is delivered again:
# longer than the longest task (training: 12 h).
export AIRFLOW__CELERY__EXTRA_CELERY_CONFIG=${AIRFLOW__CELERY__EXTRA_CELERY_CONFIG:-'{"result_extended": true}'}
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=${AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT:-86400}
export PATH="$PWD/$VENV/bin:$PATH"

# Secrets every component shares (JWTs between the API server, the scheduler and the workers' log
# servers; the Fernet key; the broker's password), generated once into AIRFLOW_HOME with mode 0600.
SECRETS="$AIRFLOW_HOME/linerec-secrets.env"
if [[ ! -f "$SECRETS" ]]; then
    (umask 077; "$PY" - > "$SECRETS" <<'PYEOF'
import secrets
from cryptography.fernet import Fernet
print(f"AIRFLOW__API__SECRET_KEY={secrets.token_hex(32)}")
print(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_hex(32)}")
print(f"AIRFLOW__CORE__FERNET_KEY={Fernet.generate_key().decode()}")
print(f"LINEREC_REDIS_PASSWORD={secrets.token_hex(24)}")
PYEOF
    )
fi
while IFS='=' read -r key value; do  # a value already in the environment wins
    [[ -n "${!key:-}" ]] || export "$key=$value"
done < "$SECRETS"
export AIRFLOW__CELERY__BROKER_URL=${AIRFLOW__CELERY__BROKER_URL:-"redis://:$LINEREC_REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"}

PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [[ ! -f "$PASSWORDS" ]]; then
    (umask 077; "$PY" -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' > "$PASSWORDS")
fi

# ---------------------------------------------------------------- metadata database and connections
# The helper prints only `export NAME=<shell-quoted value>` lines, which are evaluated, never shown.
exports=$("$PY" -W ignore - <<'PYEOF'
import json
import os
import shlex

import sqlalchemy as sa

from linerec.infra.services import database_url, s3_endpoint


def export(name, value):
    print(f"export {name}={shlex.quote(value)}")


url = sa.engine.make_url(database_url())  # starts the embedded Postgres when DATABASE_URL is unset
export("DATABASE_URL", url.render_as_string(hide_password=False))
if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
    name = os.environ.get("LINEREC_AIRFLOW_DB") or "airflow_celery"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            print(f"echo '[airflow-celery] created metadata database {name}'")
    admin.dispose()
    export("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
           url.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False))

host = url.host or url.query.get("host") or ""
export("AIRFLOW_CONN_LINEREC_POSTGRES", json.dumps({
    "conn_type": "postgres", "host": host, "port": url.port, "login": url.username,
    "password": url.password, "schema": url.database}))

ep = s3_endpoint()  # starts the embedded S3 server when S3_ENDPOINT_URL is unset
extra = {"region_name": ep.region, "bucket_name": ep.bucket}
if ep.endpoint_url:
    extra["endpoint_url"] = ep.endpoint_url
export("AIRFLOW_CONN_LINEREC_S3", json.dumps({
    "conn_type": "aws", "login": ep.access_key, "password": ep.secret_key, "extra": extra}))

if os.environ.get("LABEL_STUDIO_URL"):
    export("AIRFLOW_CONN_LINEREC_LABEL_STUDIO", json.dumps({
        "conn_type": "http", "host": os.environ["LABEL_STUDIO_URL"],
        "password": os.environ.get("LABEL_STUDIO_API_KEY"),
        "extra": {"project_id": os.environ.get("LABEL_STUDIO_PROJECT_ID")}}))
PYEOF
) || die "could not prepare the metadata database or the connections (see above)"
eval "$exports"

DB_SHOWN=$("$PY" -c 'import os, sqlalchemy as sa; print(sa.engine.make_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))')
say "AIRFLOW_HOME=$AIRFLOW_HOME"
say "DAGs:        $AIRFLOW__CORE__DAGS_FOLDER"
say "metadata DB: $DB_SHOWN (also Celery's task results)"
say "broker:      Redis on $REDIS_BIND:$REDIS_PORT (password in $SECRETS)"
say "workers:     linerec-cpu@$(hostname) queues $CPU_QUEUES; linerec-gpu@$(hostname) queues $GPU_QUEUES;" \
    "$CONCURRENCY slot(s) each; training queue $LINEREC_TRAIN_QUEUE"
say "connections: $(env | sed -n 's/^AIRFLOW_CONN_\([A-Z0-9_]*\)=.*/\1/p' | tr 'A-Z' 'a-z' | sort | xargs)"
say "UI and REST: http://$HOST:$PORT  (user admin; password in $PASSWORDS)"
say "logs:        $LOGS/<component>.log; task logs under $LOGS/dag_id=..."

[[ "${1:-start}" == "env" ]] && exit 0

if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "$HOST:$PORT is already taken; stop that server or choose another port with AIRFLOW_PORT"
fi

# ---------------------------------------------------------------- start
on_exit() { local rc=$?; trap - INT TERM EXIT; say "stopping"; stop_all; exit "$rc"; }
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # start NAME COMMAND...: in its own process group, output to logs/NAME.log
    local name=$1; shift
    setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$name.pid"
    say "started $name (pid $!, log $LOGS/$name.log)"
}

(umask 077; cat > "$AIRFLOW_HOME/redis/redis.conf" <<EOF
bind $REDIS_BIND
port $REDIS_PORT
requirepass $LINEREC_REDIS_PASSWORD
dir $AIRFLOW_HOME/redis
appendonly yes
appendfsync everysec
save ""
daemonize no
EOF
)
start redis redis-server "$AIRFLOW_HOME/redis/redis.conf"

say "migrating the metadata database (the first time ~20-60 s)"
"$AIRFLOW" db migrate >>"$LOGS/db-migrate.log" 2>&1 || die "airflow db migrate failed: see $LOGS/db-migrate.log"

start api-server "$AIRFLOW" api-server --host "$HOST" --port "$PORT"
start scheduler "$AIRFLOW" scheduler
start dag-processor "$AIRFLOW" dag-processor
AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$LOG_PORT_CPU start worker-cpu \
    "$AIRFLOW" celery worker --queues "$CPU_QUEUES" --concurrency "$CONCURRENCY" --celery-hostname "linerec-cpu@%h"
AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$LOG_PORT_GPU start worker-gpu \
    "$AIRFLOW" celery worker --queues "$GPU_QUEUES" --concurrency "$CONCURRENCY" --celery-hostname "linerec-gpu@%h"

say "waiting for the API server on http://$HOST:$PORT"
for _ in $(seq 1 150); do
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
        "http://$HOST:$PORT/api/v2/monitor/health" 2>/dev/null; then
        say "ready: http://$HOST:$PORT (user admin; password in $PASSWORDS). Ctrl-C stops everything;" \
            "from another shell: scripts/airflow_celery.sh stop"
        break
    fi
    [[ -n "$(pid_of api-server)" ]] || die "the API server exited: see $LOGS/api-server.log"
    sleep 2
done
"$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
    "http://$HOST:$PORT/api/v2/monitor/health" 2>/dev/null \
    || say "the API server does not answer yet after 300 s; it goes on starting (log $LOGS/api-server.log)"

# Stay in the foreground; a component that exits is reported, the others go on (a lost worker's
# tasks are retried on the other one).
declare -A reported=()
while true; do
    running=0
    for name in "${COMPONENTS[@]}"; do
        if [[ -n "$(pid_of "$name")" ]]; then
            running=$((running + 1))
        elif [[ -z "${reported[$name]:-}" ]]; then
            reported[$name]=1
            say "$name is not running any more (log $LOGS/$name.log)"
        fi
    done
    ((running)) || { say "no component runs any more"; exit 0; }
    sleep 5
done
