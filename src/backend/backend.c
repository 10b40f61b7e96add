// backend: choosing a backend at run time (run.device, run.precision), bf16 conversion on
// the host, and the stand-ins used when the build has no CUDA.
#include "lemma/backend.h"
#include "lemma/util.h"

#include <string.h>

uint16_t lm_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                            // nearest even
    return (uint16_t)(u >> 16);
}

float lm_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#if !LEMMA_CUDA
Backend *backend_cuda_create(int device, DType act, char *err, size_t err_len) {
    (void)device;
    (void)act;
    snprintf(err, err_len, "this lemma was built without CUDA (nvcc was not found, or USE_CUDA=0)");
    return NULL;
}
int backend_cuda_device_count(void) { return 0; }
void backend_cuda_describe(char *buf, size_t len) { snprintf(buf, len, "not built (USE_CUDA=0)"); }
#endif

Backend *backend_create(const char *device, const char *precision, int threads, int local_rank) {
    int want_cuda = strcmp(device, "cuda") == 0;
    int n_gpu = strcmp(device, "cpu") == 0 ? 0 : backend_cuda_device_count();
    if (want_cuda || (strcmp(device, "auto") == 0 && n_gpu > 0)) {
        if (n_gpu == 0) lm_fatal("run.device = \"cuda\" but no CUDA device is usable here");
        char err[512] = {0};
        DType act = strcmp(precision, "fp32") == 0 ? DT_F32 : DT_BF16;
        Backend *b = backend_cuda_create(local_rank % n_gpu, act, err, sizeof err);
        if (!b) lm_fatal("cannot start the CUDA backend: %s", err);
        return b;
    }
    return backend_cpu_create(threads);
}

void backend_destroy(Backend *b) {
    if (b) b->destroy(b);
}
