// tests/support/toy: a toy corpus of additions ("37+45=82\n") for the GPU tests.
#include "support.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Held-out problems come from indices at and above this one; training lines below it.
#define TOY_HELDOUT_BASE 4000000000L

static int toy_line(const ToyCorpus *tc, long i, char *buf, size_t len, int *prompt_len) {
    uint32_t a = lm_rng_u32(tc->seed, LM_STREAM_DATA, 2 * (uint64_t)i) % (uint32_t)tc->max_operand;
    uint32_t b = lm_rng_u32(tc->seed, LM_STREAM_DATA, 2 * (uint64_t)i + 1) % (uint32_t)tc->max_operand;
    *prompt_len = snprintf(buf, len, "%u+%u=", a, b);
    snprintf(buf + *prompt_len, len - (size_t)*prompt_len, "%u\n", a + b);
    return (int)(a + b);
}

int toy_problem(const ToyCorpus *tc, long i, char *buf, size_t len) {
    int plen;
    int ans = toy_line(tc, TOY_HELDOUT_BASE + i, buf, len, &plen);
    buf[plen] = 0;
    return ans;
}

// Rows are filled with whole lines; a row starts with bos. Target of position t is token
// t+1, kept only inside answers (after '=' up to and including the newline).
void toy_batch(void *ctx, int step, int *tokens, int *targets, int B, int T) {
    ToyCorpus *tc = ctx;
    (void)step;
    int *row = lm_malloc((size_t)(T + 1) * sizeof(int));
    int *answer = lm_malloc((size_t)(T + 1) * sizeof(int));
    for (int b = 0; b < B; b++) {
        int n = 0;
        row[n] = tc->tok->bos, answer[n++] = 0;
        while (n < T + 1) {
            char line[64];
            int plen, ids[64];
            toy_line(tc, tc->next_line++, line, sizeof line, &plen);
            int k = tokenizer_encode(tc->tok, line, ids, 64, NULL);
            for (int j = 0; j < k && n < T + 1; j++) row[n] = ids[j], answer[n++] = j >= plen;
        }
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = row[t];
            targets[b * T + t] = answer[t + 1] ? row[t + 1] : -1;
        }
    }
    free(row);
    free(answer);
}
