#!/usr/bin/env bash
# Label Studio 1.23.2 for linerec, in its own virtualenv (its pins conflict with Airflow's).
#
#   scripts/labelstudio.sh [start]   install when missing, start in the background, wait for /health
#   scripts/labelstudio.sh stop      stop the server started from this state folder
#   scripts/labelstudio.sh status    say whether it answers
#   scripts/labelstudio.sh install   only install the server's virtualenv
#
# Environment (all optional):
#   LINEREC_LS_VENV        the server's virtualenv (default ~/.cache/linerec/labelstudio-venv, shared by clones)
#   LINEREC_STATE_DIR      state folder; the server's data go to $LINEREC_STATE_DIR/labelstudio (default .state)
#   LABEL_STUDIO_PORT      port on 127.0.0.1 (default 8081; Airflow has 8080)
#   LABEL_STUDIO_HOST      address to bind (default 127.0.0.1)
#   LABEL_STUDIO_USERNAME, LABEL_STUDIO_PASSWORD, LABEL_STUDIO_API_KEY
#                          admin user and its API token; generated once and kept (mode 0600) in
#                          $LINEREC_STATE_DIR/labelstudio/credentials.env when unset
#   LINEREC_LS_START_TIMEOUT  seconds to wait for /health (default 420: the first start migrates SQLite)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LS_VERSION=1.23.2
say() { echo "[labelstudio] $*"; }
die() { echo "[labelstudio] ERROR: $*" >&2; exit 1; }

VENV=${LINEREC_LS_VENV:-$HOME/.cache/linerec/labelstudio-venv}
STATE=${LINEREC_STATE_DIR:-$PWD/.state}
DIR="$STATE/labelstudio"
HOST=${LABEL_STUDIO_HOST:-127.0.0.1}
PORT=${LABEL_STUDIO_PORT:-8081}
URL="http://$HOST:$PORT"
PIDFILE="$DIR/server.pid"
LOG="$DIR/server.log"
CREDS="$DIR/credentials.env"
TIMEOUT=${LINEREC_LS_START_TIMEOUT:-420}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

install_server() {
    local marker="$VENV/.linerec-label-studio-$LS_VERSION"
    [[ -f "$marker" ]] && return 0
    mkdir -p "$(dirname "$VENV")"
    # One installer at a time: clones share the virtualenv.
    exec 9>"$VENV.lock"
    flock 9
    if [[ ! -f "$marker" ]]; then
        local t0=$SECONDS
        say "installing label-studio==$LS_VERSION into $VENV (once, ~3 min, ~1 GB)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || die "python venv failed; on Debian/Ubuntu: apt-get install python3.11-venv"
        "$VENV/bin/pip" install -q --upgrade pip
        "$VENV/bin/pip" install -q "label-studio==$LS_VERSION" || die "pip install label-studio==$LS_VERSION failed"
        touch "$marker"
        say "installed in $((SECONDS - t0)) s"
    fi
    flock -u 9
    exec 9>&-
}

load_credentials() {
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if [[ -z "${LABEL_STUDIO_PASSWORD:-}" || -z "${LABEL_STUDIO_API_KEY:-}" ]]; then
        if [[ ! -f "$CREDS" ]]; then
            (umask 077
             printf 'LABEL_STUDIO_USERNAME=%s\nLABEL_STUDIO_PASSWORD=%s\nLABEL_STUDIO_API_KEY=%s\n' \
                 "${LABEL_STUDIO_USERNAME:-admin@linerec.local}" \
                 "${LABEL_STUDIO_PASSWORD:-$(openssl rand -hex 16 2>/dev/null || head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')}" \
                 "${LABEL_STUDIO_API_KEY:-$(openssl rand -hex 20 2>/dev/null || head -c20 /dev/urandom | od -An -tx1 | tr -d ' \n')}" \
                 >"$CREDS")
            say "generated admin credentials in $CREDS"
        fi
        chmod 600 "$CREDS"
        local user pw key
        user=$(sed -n 's/^LABEL_STUDIO_USERNAME=//p' "$CREDS")
        pw=$(sed -n 's/^LABEL_STUDIO_PASSWORD=//p' "$CREDS")
        key=$(sed -n 's/^LABEL_STUDIO_API_KEY=//p' "$CREDS")
        LABEL_STUDIO_USERNAME=${LABEL_STUDIO_USERNAME:-$user}
        LABEL_STUDIO_PASSWORD=${LABEL_STUDIO_PASSWORD:-$pw}
        LABEL_STUDIO_API_KEY=${LABEL_STUDIO_API_KEY:-$key}
    fi
    LABEL_STUDIO_USERNAME=${LABEL_STUDIO_USERNAME:-admin@linerec.local}
}

healthy() { curl -fsS -m 3 "$URL/health" >/dev/null 2>&1; }

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start_server() {
    install_server
    load_credentials
    if pid=$(running_pid); then
        if healthy; then
            say "already running (pid $pid) at $URL"
            print_where
            return 0
        fi
    elif healthy; then
        die "port $PORT answers /health but is not the server of $DIR; set LABEL_STUDIO_PORT to a free port"
    fi
    mkdir -p "$DIR/data" "$DIR/files"
    local t0=$SECONDS
    say "starting Label Studio $LS_VERSION at $URL (data in $DIR/data, log $LOG)"
    # setsid: its own process group, so `stop` ends the server and its children together.
    LABEL_STUDIO_USERNAME="$LABEL_STUDIO_USERNAME" \
    LABEL_STUDIO_PASSWORD="$LABEL_STUDIO_PASSWORD" \
    LABEL_STUDIO_USER_TOKEN="$LABEL_STUDIO_API_KEY" \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_BASE_DATA_DIR="$DIR/data" \
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$DIR/files" \
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
    SENTRY_DSN= FRONTEND_SENTRY_DSN= COLLECT_ANALYTICS=false \
        setsid "$VENV/bin/label-studio" start --no-browser --host "$URL" --internal-host "$HOST" \
            --port "$PORT" --data-dir "$DIR/data" </dev/null >>"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    local pid=$!
    while ! healthy; do
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$LOG" >&2; rm -f "$PIDFILE"; die "server exited; log: $LOG"; }
        ((SECONDS - t0 < TIMEOUT)) || { stop_server; die "no /health at $URL after ${TIMEOUT}s; log: $LOG"; }
        sleep 2
    done
    say "up after $((SECONDS - t0)) s (pid $pid)"
    print_where
}

print_where() {
    say "Label Studio: $URL  (user $LABEL_STUDIO_USERNAME)"
    if [[ -f "$CREDS" ]]; then
        say "credentials: $CREDS  (use: set -a; . $CREDS; set +a; export LABEL_STUDIO_URL=$URL)"
    else
        say "API token: the LABEL_STUDIO_API_KEY of this environment; export LABEL_STUDIO_URL=$URL"
    fi
}

stop_server() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        say "not running"
        return 0
    fi
    say "stopping (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$PIDFILE"
    say "stopped"
}

case "${1:-start}" in
    start) start_server ;;
    stop) stop_server ;;
    install) install_server; say "ready: $VENV" ;;
    status)
        if healthy; then say "healthy at $URL"; else say "not answering at $URL"; exit 1; fi ;;
    *) die "usage: $0 [start|stop|status|install]" ;;
esac
