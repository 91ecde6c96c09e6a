#!/usr/bin/env bash
# PaddleOCR as a peer for `make bench-quality`: rapidocr_onnxruntime (PP-OCRv4 detection and recognition as
# ONNX models inside the wheel, nothing downloaded at run time) in a virtualenv of its own, since its pins
# (opencv-python 5, its own onnxruntime) clash with linerec's. Safe to run again: an installed venv whose
# pins match is left alone.
#
#   scripts/setup_rapidocr.sh            install when missing or when the pins changed; print the venv's python
#   scripts/setup_rapidocr.sh --check    exit 0 when installed with these pins (installs nothing), 1 otherwise
#
# Environment (optional):
#   LINEREC_RAPIDOCR_VENV  the virtualenv (default ~/.cache/linerec/rapidocr-venv, shared by clones)
#   PYTHON                 interpreter that creates it (default python3.11, else python3)
set -euo pipefail

say() { echo "[rapidocr] $*" >&2; }
die() { echo "[rapidocr] ERROR: $*" >&2; exit 1; }

VENV=${LINEREC_RAPIDOCR_VENV:-$HOME/.cache/linerec/rapidocr-venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
# rapidocr_onnxruntime and everything it pulls, pinned together (resolved on Python 3.11, Linux x86_64).
PINS=(
    rapidocr_onnxruntime==1.4.4
    onnxruntime==1.32.0
    opencv-python==5.1.0.95
    numpy==2.4.6
    pillow==13.0.0
    pyclipper==1.4.0
    shapely==2.2.0
    PyYAML==6.0.4
    six==1.17.0
    tqdm==4.70.1
    flatbuffers==25.12.19
    packaging==26.4
    protobuf==7.36.2
)
MARKER="$VENV/.linerec-rapidocr-$(printf '%s\n' "${PINS[@]}" | sha256sum | cut -c1-16)"
# Imports the package and finds its bundled models: what scripts/peer_rapidocr.py needs.
PROBE='import pathlib, rapidocr_onnxruntime as r; m = sorted(p.name for p in (pathlib.Path(r.__file__).parent / "models").glob("*.onnx")); assert len(m) >= 2, m; print(", ".join(m))'

if [[ ${1:-} == --check ]]; then
    [[ -f "$MARKER" && -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "$PROBE" >/dev/null 2>&1
    exit $?
fi

if [[ -f "$MARKER" && -x "$VENV/bin/python" ]]; then
    say "present: $VENV (rapidocr_onnxruntime 1.4.4)"
else
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock"  # one installer at a time: clones share the venv
    flock 9
    if [[ ! -f "$MARKER" ]]; then
        t0=$SECONDS
        say "installing rapidocr_onnxruntime 1.4.4 (PP-OCRv4 ONNX models bundled) into $VENV (once, ~30 s, ~500 MB)"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || die "python venv failed; on Debian/Ubuntu: apt-get install python3.11-venv"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${PINS[@]}" >"$VENV.install.log" 2>&1 || {
            tail -n 20 "$VENV.install.log" >&2
            die "pip install failed (full log: $VENV.install.log)"
        }
        touch "$MARKER"
        say "installed in $((SECONDS - t0)) s"
    fi
    flock -u 9
fi
models=$("$VENV/bin/python" -c "$PROBE" 2>/dev/null) || die "$VENV cannot import rapidocr_onnxruntime; remove it and run again"
say "models: $models"
echo "$VENV/bin/python"
