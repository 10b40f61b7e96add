#!/usr/bin/env bash
# Runs the GPU tests and the GPU benchmark from a build made by 'make gpu-pack' (build-gpu/),
# on a machine with an NVIDIA GPU that may lack Open MPI, libconfig, OpenBLAS or HDF5.
# Writes logs under $OUT when it is set. Usage: bash scripts/gpu_run.sh [tests|bench|all]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
what=${1:-all}
OUT=${OUT:-$BUILD/gpu-logs}; mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$BUILD/lib:${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}"
# cuBLAS from the CUDA toolkit, or from the nvidia-cublas wheel that PyTorch brings.
if ! ldconfig -p | grep -q libcublasLt.so.13 && [[ ! -e ${CUDA_HOME:-/usr/local/cuda}/lib64/libcublasLt.so.13 ]]; then
    wheel=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null)
    [[ -n $wheel ]] && export LD_LIBRARY_PATH="$wheel/lib:$LD_LIBRARY_PATH"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader
missing=$(ldd "$BUILD/lemma" | grep "not found")
[[ -n $missing ]] && { echo "missing libraries:"; echo "$missing"; exit 1; }
"$BUILD/lemma" --version
rc=0
if [[ $what == tests || $what == all ]]; then
    BUILD=$BUILD bash tests/run.sh --gpu 2>&1 | tee "$OUT/test-gpu.log"; rc=${PIPESTATUS[0]}
    cp "$BUILD"/test-logs/*.log "$OUT/" 2>/dev/null
fi
if [[ $what == bench || $what == all ]]; then
    BUILD=$BUILD bash tests/bench/run.sh --gpu 2>&1 | tee "$OUT/bench-gpu.log"
fi
exit $rc
