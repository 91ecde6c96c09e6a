#!/usr/bin/env bash
# Build (or reuse a cached build of) Horovod with Gloo for the venv's TensorFlow.
#
# Usage: scripts/build_horovod.sh [--check] [VENV_PYTHON]
#   VENV_PYTHON  python of the target venv (default: .venv/bin/python)
#   --check      after installing, run a 2-process Gloo allreduce on localhost
#
# Horovod has no wheel on PyPI, so the sdist is compiled once (2-5 min) and the
# wheel is kept in ${LINEREC_WHEEL_CACHE:-$HOME/.cache/linerec/wheels}, in a
# sub-folder named after the Horovod and TensorFlow versions, so that any clone
# on this machine reuses it and a TensorFlow upgrade forces a rebuild.
set -euo pipefail

HOROVOD_VERSION=0.28.1

log() { echo "[horovod] $*"; }
die() { echo "[horovod] ERROR: $*" >&2; exit 1; }

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- arguments
CHECK=0
PY_ARG=""
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage >&2; die "unknown option: $arg" ;;
        *)
            [[ -z "$PY_ARG" ]] || die "only one python path may be given"
            PY_ARG="$arg"
            ;;
    esac
done
if [[ -z "$PY_ARG" ]]; then
    PY_ARG=.venv/bin/python
    if [[ ! -e "$PY_ARG" ]]; then
        # Not run from the repo root: fall back to the repo's own venv.
        PY_ARG="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin/python"
    fi
fi
[[ -x "$PY_ARG" ]] || die "venv python not found or not executable: $PY_ARG"

# Absolute path, without resolving the venv's python symlink (that would
# leave the venv).
VENV_BIN="$(cd "$(dirname "$PY_ARG")" && pwd)"
PY="$VENV_BIN/$(basename "$PY_ARG")"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

# ------------------------------------------------------------- system deps
ensure_system_packages() {
    local missing=() pkg
    for pkg in cmake g++ libhighwayhash-dev libfarmhash-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "system packages present: cmake g++ libhighwayhash-dev libfarmhash-dev"
        return
    fi
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    log "installing missing system packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
}

# ----------------------------------------------------------------- checks
HVD_OK_SNIPPET="
import horovod, horovod.tensorflow as hvd
assert horovod.__version__ == '$HOROVOD_VERSION', 'horovod ' + horovod.__version__
assert hvd.gloo_built(), 'horovod built without Gloo'
hvd.init()
"

horovod_works() {
    "$PY" -c "$HVD_OK_SNIPPET" >/dev/null 2>&1
}

# Python packages that Horovod's setup.py needs in the build env when build
# isolation is off (setup_requires), and at run time (install_requires).
ensure_python_build_deps() {
    local missing
    missing="$("$PY" - <<'EOF'
import importlib.util
mods = {"setuptools": "setuptools", "wheel": "wheel", "packaging": "packaging",
        "cloudpickle": "cloudpickle", "psutil": "psutil", "yaml": "pyyaml",
        "cffi": "cffi"}
print(" ".join(pkg for mod, pkg in mods.items() if importlib.util.find_spec(mod) is None))
EOF
)"
    if [[ -n "$missing" ]]; then
        log "installing missing python packages into the venv: $missing"
        # shellcheck disable=SC2086
        "$PY" -m pip install --quiet $missing
    fi
}

# ---------------------------------------------------------------- install
install_and_verify() {
    ensure_system_packages

    log "using venv python $PY"
    local tf_version py_tag
    tf_version="$("$PY" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)" \
        || die "TensorFlow is not importable with $PY (install requirements.txt first)"
    py_tag="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    log "TensorFlow $tf_version, Python tag $py_tag"

    if horovod_works; then
        log "horovod $HOROVOD_VERSION already installed and hvd.init() works; nothing to build"
        ALREADY_INSTALLED=1
        return
    fi

    local cache_root cache_dir
    cache_root="${LINEREC_WHEEL_CACHE:-$HOME/.cache/linerec/wheels}"
    cache_dir="$cache_root/horovod-$HOROVOD_VERSION-tf$tf_version"
    mkdir -p "$cache_dir"

    # One build at a time per cache dir, even across clones of the repo.
    exec 9>"$cache_dir/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -n 9 || { log "another build holds $cache_dir/.lock; waiting"; flock 9; }
    fi

    local wheel
    wheel="$(find "$cache_dir" -maxdepth 1 -name "horovod-$HOROVOD_VERSION-$py_tag-*.whl" | sort | head -n 1)"
    if [[ -n "$wheel" ]]; then
        log "using cached wheel $wheel"
    else
        log "no cached wheel in $cache_dir; building from source (takes a few minutes)"
        build_wheel "$cache_dir"
        wheel="$(find "$cache_dir" -maxdepth 1 -name "horovod-$HOROVOD_VERSION-$py_tag-*.whl" | sort | head -n 1)"
        [[ -n "$wheel" ]] || die "build finished but no $py_tag wheel landed in $cache_dir"
    fi

    log "installing $(basename "$wheel") into the venv"
    "$PY" -m pip install --quiet --no-deps --force-reinstall "$wheel"
    exec 9>&-

    log "checking that horovod.tensorflow imports and hvd.init() works"
    local out
    if ! out="$("$PY" -c "$HVD_OK_SNIPPET" 2>&1)"; then
        echo "$out" | tail -n 30 >&2
        die "installed horovod does not work; delete $wheel to force a rebuild"
    fi
}

build_wheel() {
    local cache_dir="$1" work stage src src_file line_no build_log start
    ensure_python_build_deps

    work="$(mktemp -d "${TMPDIR:-/tmp}/horovod-build.XXXXXX")"
    stage="$(mktemp -d "$cache_dir/.stage.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$work' '$stage'" EXIT

    log "downloading horovod $HOROVOD_VERSION sdist"
    "$PY" -m pip download --quiet --no-deps --no-binary :all: \
        "horovod==$HOROVOD_VERSION" -d "$work"
    [[ -f "$work/horovod-$HOROVOD_VERSION.tar.gz" ]] \
        || die "sdist horovod-$HOROVOD_VERSION.tar.gz not downloaded"
    tar -xzf "$work/horovod-$HOROVOD_VERSION.tar.gz" -C "$work"
    src="$work/horovod-$HOROVOD_VERSION"

    # The XLA ops include headers (tensorflow/compiler/xla/...) that recent TF
    # no longer ships; they are only used for GPU builds, so compile them out.
    src_file="$src/horovod/tensorflow/xla_mpi_ops.cc"
    log "patching horovod/tensorflow/xla_mpi_ops.cc (XLA ops only with HAVE_GPU)"
    [[ -f "$src_file" ]] || die "patch target missing: $src_file"
    line_no="$(grep -n -m 1 -E '^#if TENSORFLOW_VERSION >= 2006000000[[:space:]]*$' "$src_file" | cut -d: -f1 || true)"
    [[ -n "$line_no" ]] \
        || die "patch failed: '#if TENSORFLOW_VERSION >= 2006000000' not found in $src_file"
    sed -i -E "${line_no}s/[[:space:]]*\$/ \&\& HAVE_GPU/" "$src_file"
    [[ "$(sed -n "${line_no}p" "$src_file")" == '#if TENSORFLOW_VERSION >= 2006000000 && HAVE_GPU' ]] \
        || die "patch failed: line $line_no of $src_file is not as expected after editing"

    build_log="$cache_dir/build.log"
    log "compiling wheel with Gloo + TensorFlow (log: $build_log)"
    start=$SECONDS
    if ! env HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
            HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
            MAKEFLAGS="-j$(nproc)" \
            "$PY" -m pip wheel -v --no-deps --no-build-isolation "$src" -w "$stage" \
            >"$build_log" 2>&1; then
        tail -n 60 "$build_log" >&2
        die "horovod build failed; full log in $build_log"
    fi
    log "build took $((SECONDS - start)) s"

    # Move into place only once complete, so a killed build never leaves a
    # half-written wheel in the cache.
    local built
    for built in "$stage"/horovod-*.whl; do
        [[ -f "$built" ]] || die "pip wheel produced no wheel (see $build_log)"
        mv -f "$built" "$cache_dir/"
        log "cached wheel $cache_dir/$(basename "$built")"
    done
    rm -rf "$work" "$stage"
    trap - EXIT
}

# --------------------------------------------------------------- checks
check_build() {
    local out
    log "running horovodrun --check-build"
    out="$(PATH="$VENV_BIN:$PATH" "$VENV_BIN/horovodrun" --check-build 2>&1)" \
        || { echo "$out" >&2; die "horovodrun --check-build failed"; }
    # Show the report itself, without TensorFlow's start-up chatter.
    echo "$out" | sed -n '/^Horovod v/,$p' | sed '/^[[:space:]]*$/d; s/[[:space:]]*$//; s/^/[horovod]   /'
    grep -q '\[X\] TensorFlow' <<<"$out" || die "horovodrun --check-build: TensorFlow not enabled"
    grep -q '\[X\] Gloo' <<<"$out" || die "horovodrun --check-build: Gloo not enabled"
    log "check-build OK: TensorFlow and Gloo enabled"
}

check_two_ranks() {
    local out rank
    log "running a 2-process Gloo allreduce on localhost (expect sum 3.0 on both ranks)"
    out="$(PATH="$VENV_BIN:$PATH" "$VENV_BIN/horovodrun" --gloo -np 2 -H localhost:2 \
        "$PY" -c "import horovod.tensorflow as hvd, tensorflow as tf; hvd.init(); print('rank', hvd.rank(), 'sum', float(hvd.allreduce(tf.constant(float(hvd.rank()+1)), op=hvd.Sum)))" \
        2>&1)" || { echo "$out" >&2; die "2-process horovodrun failed"; }
    grep -E 'rank [01] sum' <<<"$out" | sed 's/^/[horovod]   /'
    for rank in 0 1; do
        grep -q "rank $rank sum 3.0" <<<"$out" \
            || { echo "$out" >&2; die "rank $rank did not report sum 3.0"; }
    done
    log "2-process Gloo check OK"
}

ALREADY_INSTALLED=0
install_and_verify
if [[ $ALREADY_INSTALLED -eq 1 && $CHECK -eq 0 ]]; then
    exit 0
fi
check_build
if [[ $CHECK -eq 1 ]]; then
    check_two_ranks
fi
log "done"
