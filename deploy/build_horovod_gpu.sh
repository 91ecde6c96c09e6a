#!/usr/bin/env bash
# Build Horovod 0.28.1 for the GPU trainer image: TensorFlow ops, allreduce/allgather/broadcast on
# the GPUs through NCCL, Gloo as the controller (no MPI needed), against the venv's TensorFlow.
#
# Usage: deploy/build_horovod_gpu.sh VENV_PYTHON
#
# Against TF 2.21 the sdist needs one patch: horovod/tensorflow/xla_mpi_ops.cc includes XLA headers
# from paths TF no longer ships. The XLA ops are optional (off at run time unless
# HOROVOD_ENABLE_XLA_OPS=1), so their guard is made false and the file compiles to nothing.
# (The CPU build in scripts/build_horovod.sh guards it with HAVE_GPU instead, which a GPU build
# defines, hence the different patch here.)
set -euo pipefail
HOROVOD_VERSION=0.28.1
PY=${1:?usage: $0 VENV_PYTHON}
log() { echo "[horovod-gpu] $*"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --no-deps --no-binary=:all: "horovod==$HOROVOD_VERSION" -d "$work"
tar -xzf "$work/horovod-$HOROVOD_VERSION.tar.gz" -C "$work"
src="$work/horovod-$HOROVOD_VERSION"

xla="$src/horovod/tensorflow/xla_mpi_ops.cc"
guard='#if TENSORFLOW_VERSION >= 2006000000'
grep -qx "$guard" "$xla" || { echo "[horovod-gpu] ERROR: guard not found in $xla" >&2; exit 1; }
sed -i "s|^$guard\$|$guard \&\& defined(LINEREC_BUILD_XLA_OPS)|" "$xla"
log "patched xla_mpi_ops.cc: XLA ops compiled out"

"$PY" -m pip install setuptools wheel packaging psutil pyyaml cloudpickle cffi
log "building (NCCL for GPU operations, Gloo controller)"
env HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_NCCL_LINK=SHARED HOROVOD_CUDA_HOME=/usr/local/cuda \
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS="-j$(nproc)" \
    "$PY" -m pip install --no-build-isolation --no-cache-dir "$src"

"$PY" - <<'PYEOF'
import horovod.tensorflow as hvd
assert hvd.nccl_built(), "horovod was built without NCCL"
assert hvd.gloo_built(), "horovod was built without Gloo"
print("[horovod-gpu] ok: NCCL and Gloo built in")
PYEOF
