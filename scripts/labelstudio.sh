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
#   S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION
#                          the S3 server holding the page images; Label Studio reads them there for its
#                          annotators (an S3 storage on the project, proxied, see README). Unset: linerec's
#                          own configuration (the embedded S3 server, started when needed).
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

# Settings shared by every Label Studio process we run (no update check, no telemetry).
quiet_env=(LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN=)
TEMPLATE_DB="$VENV/linerec-template/label_studio.sqlite3"

install_server() {
    local marker="$VENV/.linerec-label-studio-$LS_VERSION"
    [[ -f "$marker" && -f "$TEMPLATE_DB" ]] && return 0
    mkdir -p "$(dirname "$VENV")"
    # One installer at a time: clones share the virtualenv.
    exec 9>"$VENV.lock"
    flock 9
    if [[ ! -f "$marker" ]]; then
        local t0=$SECONDS
        say "installing label-studio==$LS_VERSION into $VENV (once, ~2-3 min, ~1 GB)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || die "python venv failed; on Debian/Ubuntu: apt-get install python3.11-venv"
        {
            "$VENV/bin/pip" install --upgrade pip && "$VENV/bin/pip" install "label-studio==$LS_VERSION"
        } >"$VENV.install.log" 2>&1 || {
            tail -n 20 "$VENV.install.log" >&2
            die "pip install label-studio==$LS_VERSION failed (log: $VENV.install.log)"
        }
        touch "$marker"
        say "installed in $((SECONDS - t0)) s"
    fi
    if [[ ! -f "$TEMPLATE_DB" ]]; then
        # Label Studio's ~300 Django migrations take ~95 s on SQLite. Run them once into a template
        # database; every new data folder starts from a copy of it (start ~10 s instead of ~100 s).
        local t0=$SECONDS tmp="$VENV/linerec-template.tmp"
        say "migrating a template database (once, ~1.5 min)"
        rm -rf "$tmp" && mkdir -p "$tmp"
        env "${quiet_env[@]}" LABEL_STUDIO_BASE_DATA_DIR="$tmp" \
            "$VENV/bin/label-studio" version --data-dir "$tmp" >"$tmp.log" 2>&1 </dev/null \
            && [[ -f "$tmp/label_studio.sqlite3" ]] || { tail -n 20 "$tmp.log" >&2; die "template migration failed"; }
        mkdir -p "$(dirname "$TEMPLATE_DB")"
        mv "$tmp/label_studio.sqlite3" "$TEMPLATE_DB.part" && mv "$TEMPLATE_DB.part" "$TEMPLATE_DB"
        rm -rf "$tmp" "$tmp.log"
        say "template database ready in $((SECONDS - t0)) s"
    fi
    flock -u 9
    exec 9>&-
}

token() { "$PYTHON" -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }

load_credentials() {
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    if [[ -z "${LABEL_STUDIO_PASSWORD:-}" || -z "${LABEL_STUDIO_API_KEY:-}" ]]; then
        if [[ ! -f "$CREDS" ]]; then
            (umask 077
             printf 'LABEL_STUDIO_USERNAME=%s\nLABEL_STUDIO_PASSWORD=%s\nLABEL_STUDIO_API_KEY=%s\n' \
                 "${LABEL_STUDIO_USERNAME:-admin@linerec.local}" \
                 "${LABEL_STUDIO_PASSWORD:-$(token 16)}" "${LABEL_STUDIO_API_KEY:-$(token 20)}" \
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

# The operator's S3 endpoint for Label Studio (its S3_ENDPOINT setting is trusted, unlike an endpoint sent
# through the API, which its SSRF protection refuses when it is a local address).
s3_env() {
    if [[ -n "${S3_ENDPOINT_URL:-}" || "${LINEREC_S3_USE_AWS:-0}" == 1 ]]; then
        S3_ENV=(S3_ENDPOINT="${S3_ENDPOINT_URL:-}" AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-}"
                AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-}" S3_region="${AWS_DEFAULT_REGION:-us-east-1}")
    elif [[ -x .venv/bin/python ]]; then
        local lines
        lines=$(.venv/bin/python -c 'from linerec.infra.services import s3_endpoint as e; x = e()
print(x.endpoint_url or ""); print(x.access_key or ""); print(x.secret_key or ""); print(x.region)') \
            || die "cannot start or find linerec's S3 server (see the error above)"
        mapfile -t lines <<<"$lines"
        S3_ENV=(S3_ENDPOINT="${lines[0]}" AWS_ACCESS_KEY_ID="${lines[1]}" AWS_SECRET_ACCESS_KEY="${lines[2]}"
                S3_region="${lines[3]}")
    else
        say "no S3 configured (S3_ENDPOINT_URL unset and no .venv): page images in S3 will not be shown"
        S3_ENV=()
    fi
    [[ ${#S3_ENV[@]} -gt 0 ]] && say "page images: S3 at ${S3_ENV[0]#S3_ENDPOINT=}"
    return 0
}

# (python rather than curl: a fresh Debian may have no curl, and Python 3.11 is a requirement anyway)
healthy() {
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$URL/health" \
        >/dev/null 2>&1
}

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
    s3_env
    mkdir -p "$DIR/data" "$DIR/files"
    [[ -f "$DIR/data/label_studio.sqlite3" ]] || cp "$TEMPLATE_DB" "$DIR/data/label_studio.sqlite3"
    local t0=$SECONDS
    say "starting Label Studio $LS_VERSION at $URL (data in $DIR/data, log $LOG)"
    # setsid: its own process group, so `stop` ends the server and its children together.
    env "${quiet_env[@]}" "${S3_ENV[@]}" \
    LABEL_STUDIO_USERNAME="$LABEL_STUDIO_USERNAME" \
    LABEL_STUDIO_PASSWORD="$LABEL_STUDIO_PASSWORD" \
    LABEL_STUDIO_USER_TOKEN="$LABEL_STUDIO_API_KEY" \
    LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_BASE_DATA_DIR="$DIR/data" \
    LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
    LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$DIR/files" \
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
        setsid "$VENV/bin/label-studio" start --no-browser --internal-host "$HOST" \
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
