#!/usr/bin/env bash
# Airflow 3 standalone for linerec: the project's DAGs, Postgres as the metadata database,
# connections from the environment, examples off, parallelism sized for this machine.
#
#   scripts/airflow.sh          prepare, then run `airflow standalone` in the foreground (Ctrl-C stops it)
#   scripts/airflow.sh env      prepare only, and print the settings (never a secret) that a run would use
#
# Environment (all optional):
#   AIRFLOW_HOME               Airflow's home (default $LINEREC_STATE_DIR/airflow)
#   AIRFLOW_PORT, AIRFLOW_HOST UI / REST / execution API address (default 127.0.0.1:8080)
#   LINEREC_AIRFLOW_DB         metadata database name, created when missing on the server linerec
#                              uses (DATABASE_URL, or the embedded Postgres when unset); default `airflow`
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN   a metadata database of your own instead (used as is)
#   AIRFLOW__CORE__PARALLELISM default: min(cores, GiB of RAM / 3), at least 2
#   DATABASE_URL, S3_ENDPOINT_URL, AWS_*, LABEL_STUDIO_*   as for linerec; they become the Airflow
#                              connections linerec_postgres, linerec_s3 and linerec_label_studio
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "[airflow] $*"; }
die() { echo "[airflow] ERROR: $*" >&2; exit 1; }

VENV=${VENV:-.venv}
PY="$PWD/$VENV/bin/python"
[[ -x "$PY" ]] || die "no virtualenv at $VENV; run \`make setup\` first"

export LINEREC_STATE_DIR=${LINEREC_STATE_DIR:-$PWD/.state}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$LINEREC_STATE_DIR/airflow}
HOST=${AIRFLOW_HOST:-127.0.0.1}
PORT=${AIRFLOW_PORT:-8080}
mkdir -p "$AIRFLOW_HOME"

# ---------------------------------------------------------------- where and what
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST="$HOST"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__WORKERS=${AIRFLOW__API__WORKERS:-1}
export AIRFLOW__API__BASE_URL="http://$HOST:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://$HOST:$PORT/execution/"
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}
export PATH="$PWD/$VENV/bin:$PATH"

# Parallelism: a task process of linerec holds TensorFlow (~1-3 GB), so memory bounds it as
# much as cores do; each idle LocalExecutor worker also costs ~130 MB.
if [[ -z "${AIRFLOW__CORE__PARALLELISM:-}" ]]; then
    cores=$(nproc)
    mem_gib=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576 ))
    par=$(( cores < mem_gib / 3 ? cores : mem_gib / 3 ))
    (( par >= 2 )) || par=2
    export AIRFLOW__CORE__PARALLELISM=$par
fi
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=${AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG:-$AIRFLOW__CORE__PARALLELISM}

# Secrets that every component must share (JWTs between the API server and task runners); kept
# in AIRFLOW_HOME with mode 0600 so a restart keeps sessions valid.
SECRETS="$AIRFLOW_HOME/linerec-secrets.env"
if [[ ! -f "$SECRETS" ]]; then
    (umask 077; {
        echo "AIRFLOW__API__SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')"
        echo "AIRFLOW__API_AUTH__JWT_SECRET=$("$PY" -c 'import secrets; print(secrets.token_hex(32))')"
    } > "$SECRETS")
fi
while IFS='=' read -r key value; do  # a value already in the environment wins
    [[ -n "${!key:-}" ]] || export "$key=$value"
done < "$SECRETS"

# The admin password of the simple auth manager: generated here (mode 0600) so that Airflow finds it
# and does not echo a new one into its output.
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
if [[ ! -f "$PASSWORDS" ]]; then
    (umask 077; "$PY" -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' > "$PASSWORDS")
fi

# ---------------------------------------------------------------- metadata database and connections
# The helper below prints only `export NAME=<shell-quoted value>` lines, which are evaluated, never shown.
exports=$("$PY" -W ignore - <<'PYEOF'
import json
import os
import shlex

import sqlalchemy as sa

from linerec.infra.services import database_url, s3_endpoint


def export(name, value):
    print(f"export {name}={shlex.quote(value)}")


url = sa.engine.make_url(database_url())  # starts the embedded Postgres when DATABASE_URL is unset
if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
    name = os.environ.get("LINEREC_AIRFLOW_DB") or "airflow"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            print(f"echo '[airflow] created metadata database {name}'")
    admin.dispose()
    export("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
           url.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False))

# linerec_postgres: the project's database (a unix-socket URL keeps its socket folder as host)
host = url.host or url.query.get("host") or ""
export("AIRFLOW_CONN_LINEREC_POSTGRES", json.dumps({
    "conn_type": "postgres", "host": host, "port": url.port, "login": url.username,
    "password": url.password, "schema": url.database}))

# linerec_s3: the S3 endpoint with its credentials (starts the embedded server when unconfigured)
ep = s3_endpoint()
extra = {"region_name": ep.region, "bucket_name": ep.bucket}
if ep.endpoint_url:
    extra["endpoint_url"] = ep.endpoint_url
export("AIRFLOW_CONN_LINEREC_S3", json.dumps({
    "conn_type": "aws", "login": ep.access_key, "password": ep.secret_key, "extra": extra}))

# linerec_label_studio: the annotation server, when one is configured
if os.environ.get("LABEL_STUDIO_URL"):
    export("AIRFLOW_CONN_LINEREC_LABEL_STUDIO", json.dumps({
        "conn_type": "http", "host": os.environ["LABEL_STUDIO_URL"],
        "password": os.environ.get("LABEL_STUDIO_API_KEY"),
        "extra": {"project_id": os.environ.get("LABEL_STUDIO_PROJECT_ID")}}))

# the task processes find the same services through linerec's own variables
print(f"export LINEREC_STATE_DIR={shlex.quote(os.environ['LINEREC_STATE_DIR'])}")
PYEOF
) || die "could not prepare the metadata database or the connections (see above)"
eval "$exports"

DB_SHOWN=$("$PY" -c 'import os, sqlalchemy as sa; print(sa.engine.make_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))')
say "AIRFLOW_HOME=$AIRFLOW_HOME"
say "DAGs:        $AIRFLOW__CORE__DAGS_FOLDER"
say "metadata DB: $DB_SHOWN"
say "connections: $(env | sed -n 's/^AIRFLOW_CONN_\([A-Z0-9_]*\)=.*/\1/p' | tr 'A-Z' 'a-z' | sort | xargs)"
say "parallelism: $AIRFLOW__CORE__PARALLELISM (cores $(nproc))"
say "UI:          http://$HOST:$PORT  (user admin; password in $PASSWORDS)"

[[ "${1:-}" == "env" ]] && exit 0

if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    die "$HOST:$PORT is already taken; stop that server or choose another port with AIRFLOW_PORT"
fi
say "starting airflow standalone (first start migrates the metadata database, ~30-60 s); Ctrl-C stops it"
exec "$PWD/$VENV/bin/airflow" standalone
