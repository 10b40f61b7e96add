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

// The order of candidates: decreasing logit, then increasing id (NaN logits last): a total
// order, so every selection below is deterministic.
static inline float sample_key(const float *l, int i) { return l[i] == l[i] ? l[i] : -INFINITY; }
static inline int sample_before(const float *l, int i, int j) {
    float a = sample_key(l, i), b = sample_key(l, j);
    return a != b ? a > b : i < j;
}

static int sample_cmp(const void *a, const void *b, void *ctx) {
    int i = *(const int *)a, j = *(const int *)b;
    return i == j ? 0 : sample_before(ctx, i, j) ? -1 : 1;
}

// Restores the heap below h[at]: the root is the candidate that comes last in the order.
static void sample_sift(int *h, int n, int at, const float *l) {
    for (;;) {
        int c = 2 * at + 1;
        if (c >= n) return;
        if (c + 1 < n && sample_before(l, h[c], h[c + 1])) c++;
        if (!sample_before(l, h[at], h[c])) return;
        int t = h[at];
        h[at] = h[c], h[c] = t, at = c;
    }
}

// The first k tokens in the order, sorted, into idx[0..k): a heap of k, O(V log k).
static void sample_top_k(const float *l, int V, int k, int *idx) {
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sample_sift(idx, k, i, l);
    for (int v = k; v < V; v++)
        if (sample_before(l, v, idx[0])) idx[0] = v, sample_sift(idx, k, 0, l);
    qsort_r(idx, (size_t)k, sizeof(int), sample_cmp, (void *)l);
}

// Buckets of log-probability (width 1/4 nat below the largest) for the top-p prefix.
enum { SAMPLE_BUCKETS = 256 };
static inline int sample_bucket(double x) {
    double b = -4.0 * x; // x = (logit - max) / temperature <= 0; NaN: the last bucket
    return b < SAMPLE_BUCKETS - 1 ? (int)b : SAMPLE_BUCKETS - 1;
}

// A prefix of the order that holds at least `want` of the mass, sorted, into idx: the
// tokens of the most likely buckets that reach it (one more bucket as margin for rounding),
// so that only they are sorted, not the vocabulary. Returns their number.
static int sample_top_p_set(const float *l, int V, double mx, double inv_t, const double *p,
                            double want, int *idx) {
    double mass[SAMPLE_BUCKETS] = {0};
    for (int v = 0; v < V; v++) mass[sample_bucket(((double)l[v] - mx) * inv_t)] += p[v];
    int last = 0;
    for (double cum = mass[0]; cum < want && last < SAMPLE_BUCKETS - 1;) cum += mass[++last];
    if (last < SAMPLE_BUCKETS - 1) last++;
    int n = 0;
    for (int v = 0; v < V; v++)
        if (sample_bucket(((double)l[v] - mx) * inv_t) <= last) idx[n++] = v;
    qsort_r(idx, (size_t)n, sizeof(int), sample_cmp, (void *)l);
    return n;
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
        total += p[v];
    }
    int n = V;
    if (s->top_k > 0 && s->top_k < V) {
        n = s->top_k;
        sample_top_k(logits, V, n, idx);
        total = 0.0;
        for (int i = 0; i < n; i++) total += p[idx[i]];
    } else if (s->top_p < 1.0f) {
        n = sample_top_p_set(logits, V, mx, inv_t, p, (double)s->top_p * total, idx);
    }
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
