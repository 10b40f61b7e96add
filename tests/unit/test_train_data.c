// tests/unit/test_train_data.c: training records as the trainer sees them. A record added with
// a masked mistake has the same tokens as without, and its targets start exactly after the
// mistake (the first `skip` bytes of the response); a seeded subset of records
// (finetune.reflection_share) has the size asked for, no repeats, and depends on the seed
// alone.
#include "harness.h"
#include "lemma/model.h"
#include "lemma/train.h"

#include <string.h>

static const char *prompt = "Question: 2 + 3?\nAnswer: ";
static const char *response = "2 + 3 = 6\nWait, 2 + 3 = 5.\nThe answer is: 5";

// The targets of a one-record epoch plan: tgt[t] for t < seq_len; returns the target count.
static int targets_of(const TrainData *d, int *tok, int *tgt) {
    EpochPlan p;
    train_plan_epoch(&p, d, 1, 0);
    int seg[256], pos[256];
    int n = train_fill_row(d, &p, 0, 0, tok, tgt, seg, pos);
    train_plan_free(&p);
    return n;
}

static void test_masked_mistake(void) {
    Tokenizer tk;
    tokenizer_init(&tk, NULL, 0);
    TrainData a, b;
    train_data_init(&a, 128), train_data_init(&b, 128);
    train_data_add(&a, &tk, prompt, response);
    size_t skip = strlen("2 + 3 = 6\n");
    train_data_add_masked(&b, &tk, prompt, response, skip);
    EXPECT(a.n_tok == b.n_tok && !memcmp(a.tok, b.tok, (size_t)a.n_tok * sizeof(int)),
           "masking changed the record's tokens");
    int tok_a[128], tgt_a[128], tok_b[128], tgt_b[128];
    int na = targets_of(&a, tok_a, tgt_a), nb = targets_of(&b, tok_b, tgt_b);
    int np = (int)strlen(prompt), nr = (int)strlen(response); // byte tokens
    EXPECT(na == nr + 1, "unmasked: %d targets, want the response and eos (%d)", na, nr + 1);
    EXPECT(nb == nr - (int)skip + 1, "masked: %d targets, want %d", nb, nr - (int)skip + 1);
    // position t predicts token t + 1: position 0 is bos, 1..np the prompt, np + 1 .. np + nr
    // the response, np + nr + 1 eos
    for (int t = 0; t < 128; t++) {
        int want = -1;
        if (t >= np + (int)skip && t < np + nr) want = (unsigned char)response[t - np];
        if (t == np + nr) want = tk.eos;
        if (tgt_b[t] != want) {
            EXPECT(0, "masked target at %d is %d, want %d", t, tgt_b[t], want);
            break;
        }
    }
    train_data_free(&a), train_data_free(&b);
    tokenizer_free(&tk);
}

// A skip past the response's end masks the whole response (eos keeps its loss).
static void test_mask_longer_than_response(void) {
    Tokenizer tk;
    tokenizer_init(&tk, NULL, 0);
    TrainData d;
    train_data_init(&d, 128);
    train_data_add_masked(&d, &tk, prompt, response, 10000);
    int tok[128], tgt[128];
    EXPECT(targets_of(&d, tok, tgt) == 1, "want eos as the only target");
    train_data_free(&d);
    tokenizer_free(&tk);
}

// The first token of each record of d (records are "r<i>" with i < 100: tokens 'r', digits).
static int record_ids(const TrainData *d, int *ids) {
    for (long r = 0; r < d->n; r++) {
        const int *t = d->tok + d->start[r] + 1; // after bos
        char s[8] = {0};
        for (int i = 0; i < 7 && t[i] != '\n'; i++) s[i] = (char)t[i];
        ids[r] = atoi(s + 1);
    }
    return (int)d->n;
}

static void test_append_sample(void) {
    Tokenizer tk;
    tokenizer_init(&tk, NULL, 0);
    TrainData src, x, y, z;
    train_data_init(&src, 64), train_data_init(&x, 64), train_data_init(&y, 64),
        train_data_init(&z, 64);
    for (int i = 0; i < 100; i++) {
        char p[16];
        snprintf(p, sizeof p, "r%d\n", i);
        train_data_add(&src, &tk, p, "x");
    }
    train_data_append_sample(&x, &src, 30, 7);
    train_data_append_sample(&y, &src, 30, 7);
    train_data_append_sample(&z, &src, 30, 8);
    int ix[100], iy[100], iz[100], seen[100] = {0}, dup = 0;
    EXPECT(record_ids(&x, ix) == 30 && record_ids(&y, iy) == 30 && record_ids(&z, iz) == 30,
           "want 30 records each");
    for (int i = 0; i < 30; i++) dup += seen[ix[i]]++;
    EXPECT(dup == 0, "%d records chosen twice", dup);
    EXPECT(!memcmp(ix, iy, sizeof(int) * 30), "the same seed chose different records");
    EXPECT(memcmp(ix, iz, sizeof(int) * 30), "another seed chose the same records");
    EXPECT(x.prompt_len[0] == src.prompt_len[ix[0]], "prompt length not carried over");
    train_data_free(&src), train_data_free(&x), train_data_free(&y), train_data_free(&z);
    tokenizer_free(&tk);
}

int main(void) {
    RUN_TEST(test_masked_mistake);
    RUN_TEST(test_mask_longer_than_response);
    RUN_TEST(test_append_sample);
    TEST_EXIT();
}
