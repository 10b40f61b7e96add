// sample/token: drawing one token from logits (greedy, temperature, top-k, top-p) with
// the uniform keyed by (seed, problem, sample, position), and the unbiased pass@k estimate.
#include "lemma/sample.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>

float sample_uniform(uint64_t seed, long problem, int sample, int position) {
    LM_CHECK(problem >= 0 && problem < SAMPLE_MAX_PROBLEMS, "sample: problem index %ld beyond "
             "the %ld the randomness key holds", problem, SAMPLE_MAX_PROBLEMS);
    LM_CHECK(sample >= 0 && sample < SAMPLE_MAX_SAMPLES, "sample: sample index %d beyond %d",
             sample, SAMPLE_MAX_SAMPLES);
    LM_CHECK(position >= 0 && position < SAMPLE_MAX_POSITION, "sample: position %d beyond %d",
             position, SAMPLE_MAX_POSITION);
    uint64_t counter = (((uint64_t)problem << 16 | (uint64_t)sample) << 24) | (uint64_t)position;
    return lm_rng_uniform(seed, LM_STREAM_SAMPLE, counter);
}

// The first index of the largest logit (NaN never wins).
static int sample_argmax(const float *logits, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best] || (logits[best] != logits[best] && logits[v] == logits[v]))
            best = v;
    return best;
}

// Decreasing logit, then increasing id: a total order, so the sort is deterministic.
static int sample_cmp(const void *a, const void *b, void *ctx) {
    const float *l = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (l[i] != l[j]) return l[i] > l[j] ? -1 : 1;
    return (i > j) - (i < j);
}

// The candidate where target falls along idx[0..n) (weights p[idx[.]]); the last one when
// rounding leaves target beyond the sum.
static int sample_walk(const int *idx, int n, const double *p, double target) {
    double cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += p[idx[i]];
        if (cum > target) return idx[i];
    }
    return idx[n - 1];
}

int sample_token(const float *logits, int V, const SampleStrategy *s, float u, int *idx,
                 double *p) {
    int best = sample_argmax(logits, V);
    if (s->temperature <= 0.0f || !(logits[best] == logits[best])) return best;
    double mx = logits[best], inv_t = 1.0 / (double)s->temperature, total = 0.0;
    for (int v = 0; v < V; v++) {
        double x = ((double)logits[v] - mx) * inv_t;
        p[v] = x == x ? exp(x) : 0.0; // NaN logits never drawn
        idx[v] = v;
    }
    int filter = (s->top_k > 0 && s->top_k < V) || s->top_p < 1.0f, n = V;
    if (filter) {
        qsort_r(idx, (size_t)V, sizeof(int), sample_cmp, (void *)logits);
        if (s->top_k > 0 && s->top_k < V) n = s->top_k;
    }
    for (int i = 0; i < n; i++) total += p[idx[i]];
    if (s->top_p < 1.0f) {
        double want = (double)s->top_p * total, cum = 0.0;
        int keep = 0;
        while (keep < n && (keep == 0 || cum < want)) cum += p[idx[keep++]];
        n = keep, total = cum;
    }
    return sample_walk(idx, n, p, (double)u * total);
}

double sample_pass_at_k(int n, int c, int k) {
    LM_CHECK(k >= 1 && k <= n && c >= 0 && c <= n, "pass@k: n %d, c %d, k %d", n, c, k);
    if (n - c < k) return 1.0;
    double fail = 1.0; // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i)
    for (int i = n - c + 1; i <= n; i++) fail *= 1.0 - (double)k / (double)i;
    return 1.0 - fail;
}
