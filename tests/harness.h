// tests/harness.h: a small unit-test runner. Each test binary prints one line per test,
// "PASS name" or "FAIL name: why", and exits non-zero when any failed; tests/run.sh adds
// the lines of every binary and shell test into the closing "N passed, N failed".
#ifndef LEMMA_TEST_HARNESS_H
#define LEMMA_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int th_passed, th_failed, th_cur_failed;
static const char *th_cur_name;

// Records a failure of the current test (the test goes on; use return to stop it).
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!th_cur_failed) printf("FAIL %s: ", th_cur_name);                                  \
            else printf("     %s: ", th_cur_name);                                                 \
            printf("%s:%d: ", __FILE__, __LINE__);                                                 \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            th_cur_failed = 1;                                                                     \
        }                                                                                          \
    } while (0)

#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        th_cur_name = #fn;                                                                         \
        th_cur_failed = 0;                                                                         \
        fn();                                                                                      \
        if (th_cur_failed) th_failed++;                                                            \
        else { th_passed++; printf("PASS %s\n", #fn); }                                            \
        fflush(stdout);                                                                            \
    } while (0)

#define TEST_EXIT() return th_failed ? 1 : 0

// theta^(-2i/hd) for i < hd/2 (the plain RoPE frequencies the rope op takes); a static
// buffer, valid until the next call.
static inline const double *th_rope_freq(int hd, double theta) {
    static double f[512];
    for (int i = 0; i < hd / 2 && i < 512; i++) f[i] = pow(theta, -2.0 * i / (double)hd);
    return f;
}

// Relative L2 error ||a-b|| / ||b|| (b is the reference); 0 when both are zero.
static inline double th_rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0) return sqrt(num);
    return sqrt(num / den);
}

// Largest |a-b| / (|b| + atol) over the elements; NaN anywhere gives +inf.
static inline double th_max_rel(const float *a, const float *b, size_t n, double atol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        double r = fabs((double)a[i] - (double)b[i]) / (fabs((double)b[i]) + atol);
        if (r > worst) worst = r;
    }
    return worst;
}

#endif
