#!/usr/bin/env bash
# Copies beside a GPU build the few shared libraries that a machine with only the CUDA
# toolkit may lack (cJSON, OpenMP and Fortran runtimes of OpenBLAS...), so that the build
# directory can be carried to the lent GPU machine and run there with
#   LD_LIBRARY_PATH=$BUILD/lib:/usr/local/cuda/lib64 $BUILD/lemma ...
# glibc and the CUDA libraries (cuBLAS, cuBLASLt) are expected on the target.
set -euo pipefail
BUILD=${1:-build-gpu}
mkdir -p "$BUILD/lib"
skip='^(linux-vdso|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|ld-linux|libcublas|libcudart|libstdc\+\+|libgcc_s)'
for bin in "$BUILD/lemma" "$BUILD"/tests/test_gpu_* "$BUILD"/bench/*; do
    [[ -x $bin ]] || continue
    ldd "$bin" | awk '/=>/ {print $1, $3}' | while read -r name path; do
        [[ $name =~ $skip ]] && continue
        [[ -f $path ]] && cp -Lu "$path" "$BUILD/lib/$name"
    done
done
du -sh "$BUILD" | awk '{print "gpu-pack: " $1 " in '"$BUILD"' (libraries: " }'
ls "$BUILD/lib"
