// tests/tools/tok_check: runs lemma's tokenizer over texts for tests/shell/test_tokenizer.sh
// and tests/bench/tok_bench.sh. TOKENIZER is a tokenizer.json, or with --spec a JSON dump of
// GGUF metadata (tests/py/make_tokenizers.py: tokens, scores, types, merges, pre, bos, eos,
// unk, pad, add_bos, add_eos) given to tokenizer_from_spec.
//
//   tok_check [--spec] TOKENIZER TEXTS.jsonl       one line per text (a JSON string, or
//       {"hex": "..."} for bytes that are not UTF-8):
//       {"ids": [...], "dec": decode, "dec_all": decode_all, "pieces_ok": 0/1}, dec left out
//       when it equals the text, dec_all when it equals dec
//       pieces_ok: the concatenated tokenizer_piece_bytes equal dec (or " " + dec: the
//       leading space HF's SentencePiece decoders strip)
//   tok_check [--spec] --decode TOKENIZER IDS.jsonl  one line per id list: {"dec", "dec_all"}
//   tok_check [--spec] --info TOKENIZER             {"kind", "vocab", "bos", "eos", "pad",
//       "unk", "add_bos", "add_eos", "max_piece"} and the ids of --id STRING arguments
//   tok_check [--spec] --threads N TOKENIZER TEXTS.jsonl   encodes the texts on N OpenMP
//       threads at once, twice, and prints {"same": 0/1} against a serial pass
//   tok_check [--spec] --bench R TOKENIZER TEXTS.jsonl     encodes all texts R times on one
//       thread: {"bytes", "seconds" (best of R), "mb_s", "tokens"}
// A tokenizer that does not load: the message on stderr, exit status 2.
#include "lemma/tokenizer.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **s;
    int n, cap;
} Lines;

static void lines_add(Lines *l, char *s) {
    if (l->n == l->cap) l->s = realloc(l->s, (size_t)(l->cap = l->cap ? 2 * l->cap : 1024) * sizeof *l->s);
    l->s[l->n++] = s;
}

// Each line of path parsed as JSON; each item handed to keep (which returns the copy to keep).
static Lines read_jsonl(const char *path, char *(*keep)(const cJSON *)) {
    Lines out = {0};
    size_t len;
    char *text = lm_read_file(path, &len);
    if (!text) fprintf(stderr, "tok_check: cannot read %s\n", path), exit(2);
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) nl = p + strlen(p);
        char save = *nl;
        *nl = 0;
        if (*p) {
            cJSON *j = cJSON_Parse(p);
            if (!j) fprintf(stderr, "tok_check: %s: a line is not JSON\n", path), exit(2);
            lines_add(&out, keep(j));
            cJSON_Delete(j);
        }
        if (!save) break;
    }
    free(text);
    return out;
}

// A text: a JSON string, or {"hex": "..."} for bytes that are not UTF-8.
static char *keep_string(const cJSON *j) {
    const cJSON *h = cJSON_GetObjectItem(j, "hex");
    if (cJSON_IsString(h)) {
        size_t n = strlen(h->valuestring) / 2;
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            sscanf(h->valuestring + 2 * i, "%2x", &v);
            s[i] = (char)v;
        }
        s[n] = 0;
        return s;
    }
    if (!cJSON_IsString(j)) fprintf(stderr, "tok_check: expected a JSON string per line\n"), exit(2);
    return lm_strdup(j->valuestring);
}

static char *keep_json(const cJSON *j) { return cJSON_PrintUnformatted(j); }

// ---------------------------------------------------------------------------
// the spec dump

static int load_spec(Tokenizer *t, const char *path, char *err, size_t err_len) {
    size_t len;
    char *text = lm_read_file(path, &len);
    if (!text) return snprintf(err, err_len, "%s: cannot read", path), -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!j) return snprintf(err, err_len, "%s: malformed JSON", path), -1;
    const cJSON *tok = cJSON_GetObjectItem(j, "tokens"), *sc = cJSON_GetObjectItem(j, "scores");
    const cJSON *ty = cJSON_GetObjectItem(j, "types"), *mg = cJSON_GetObjectItem(j, "merges");
    TokSpec s = {0};
    s.n_vocab = cJSON_GetArraySize(tok);
    const char **tokens = calloc((size_t)s.n_vocab + 1, sizeof *tokens);
    float *scores = cJSON_IsArray(sc) ? calloc((size_t)s.n_vocab + 1, sizeof *scores) : NULL;
    int *types = cJSON_IsArray(ty) ? calloc((size_t)s.n_vocab + 1, sizeof *types) : NULL;
    int i = 0;
    for (const cJSON *e = tok ? tok->child : NULL; e; e = e->next, i++) tokens[i] = e->valuestring;
    i = 0;
    for (const cJSON *e = scores ? sc->child : NULL; e && i < s.n_vocab; e = e->next, i++)
        scores[i] = (float)e->valuedouble;
    i = 0;
    for (const cJSON *e = types ? ty->child : NULL; e && i < s.n_vocab; e = e->next, i++) types[i] = e->valueint;
    s.n_merges = cJSON_GetArraySize(mg);
    const char **merges = calloc((size_t)s.n_merges + 1, sizeof *merges);
    i = 0;
    for (const cJSON *e = mg ? mg->child : NULL; e; e = e->next, i++) merges[i] = e->valuestring;
    s.spm = cJSON_GetObjectItem(j, "spm")->valueint;
    s.tokens = tokens, s.scores = scores, s.types = types, s.merges = merges;
    const cJSON *pre = cJSON_GetObjectItem(j, "pre");
    s.pre = cJSON_IsString(pre) ? pre->valuestring : NULL;
    s.bos = cJSON_GetObjectItem(j, "bos")->valueint, s.eos = cJSON_GetObjectItem(j, "eos")->valueint;
    s.unk = cJSON_GetObjectItem(j, "unk")->valueint, s.pad = cJSON_GetObjectItem(j, "pad")->valueint;
    s.add_bos = cJSON_GetObjectItem(j, "add_bos")->valueint, s.add_eos = cJSON_GetObjectItem(j, "add_eos")->valueint;
    int rc = tokenizer_from_spec(t, &s, err, err_len);
    free(tokens), free(scores), free(types), free(merges);
    cJSON_Delete(j);
    return rc;
}

// ---------------------------------------------------------------------------

static int *encode(const Tokenizer *t, const char *s, int *n) {
    int need;
    tokenizer_encode(t, s, NULL, 0, &need);
    int *ids = malloc(((size_t)need + 1) * sizeof *ids);
    *n = tokenizer_encode(t, s, ids, need, NULL);
    return ids;
}

static int pieces_ok(const Tokenizer *t, const int *ids, int n, const char *dec) {
    size_t cap = 64, len = 0;
    char *c = malloc(cap);
    for (int i = 0; i < n; i++) {
        size_t pl;
        const char *p = tokenizer_piece_bytes(t, ids[i], &pl);
        if (len + pl + 1 > cap) c = realloc(c, cap = 2 * (len + pl + 1));
        memcpy(c + len, p, pl);
        len += pl;
    }
    c[len] = 0;
    size_t dl = strlen(dec);
    int ok = (len == dl && memcmp(c, dec, dl) == 0) || (len == dl + 1 && c[0] == ' ' && memcmp(c + 1, dec, dl) == 0);
    free(c);
    return ok;
}

static void print_json_str(const char *k, const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *o = cJSON_PrintUnformatted(j);
    printf("\"%s\":%s", k, o);
    free(o);
    cJSON_Delete(j);
}

static void run_texts(const Tokenizer *t, const Lines *texts) {
    for (int i = 0; i < texts->n; i++) {
        int n;
        int *ids = encode(t, texts->s[i], &n);
        printf("{\"ids\":[");
        for (int k = 0; k < n; k++) printf(k ? ",%d" : "%d", ids[k]);
        printf("],");
        char *d = tokenizer_decode(t, ids, n), *da = tokenizer_decode_all(t, ids, n);
        if (strcmp(d, texts->s[i])) print_json_str("dec", d), printf(",");
        if (strcmp(da, d)) print_json_str("dec_all", da), printf(",");
        printf("\"pieces_ok\":%d}\n", pieces_ok(t, ids, n, d));
        free(d), free(da), free(ids);
    }
}

static void run_decode(const Tokenizer *t, const Lines *lists) {
    for (int i = 0; i < lists->n; i++) {
        cJSON *j = cJSON_Parse(lists->s[i]);
        int n = cJSON_GetArraySize(j), k = 0;
        int *ids = malloc(((size_t)n + 1) * sizeof *ids);
        for (const cJSON *e = j->child; e; e = e->next) ids[k++] = e->valueint;
        char *d = tokenizer_decode(t, ids, n), *da = tokenizer_decode_all(t, ids, n);
        printf("{");
        print_json_str("dec", d);
        printf(",");
        print_json_str("dec_all", da);
        printf("}\n");
        free(d), free(da), free(ids);
        cJSON_Delete(j);
    }
}

static void run_threads(const Tokenizer *t, const Lines *texts, int threads) {
    int **ref = calloc((size_t)texts->n, sizeof *ref), *nref = calloc((size_t)texts->n, sizeof *nref);
    for (int i = 0; i < texts->n; i++) ref[i] = encode(t, texts->s[i], &nref[i]);
    int same = 1;
    for (int rep = 0; rep < 2; rep++) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8) reduction(&& : same)
        for (int i = 0; i < texts->n; i++) {
            int n;
            int *ids = encode(t, texts->s[i], &n);
            same = same && n == nref[i] && memcmp(ids, ref[i], (size_t)n * sizeof *ids) == 0;
            char *d = tokenizer_decode(t, ids, n);
            free(d), free(ids);
        }
    }
    for (int i = 0; i < texts->n; i++) free(ref[i]);
    free(ref), free(nref);
    printf("{\"same\":%d,\"threads\":%d,\"texts\":%d}\n", same, threads, texts->n);
}

static void run_bench(const Tokenizer *t, const Lines *texts, int reps) {
    size_t bytes = 0;
    long tokens = 0;
    for (int i = 0; i < texts->n; i++) bytes += strlen(texts->s[i]);
    int cap = 1 << 20;
    int *ids = malloc((size_t)cap * sizeof *ids);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = lm_now();
        long tok = 0;
        for (int i = 0; i < texts->n; i++) tok += tokenizer_encode(t, texts->s[i], ids, cap, NULL);
        double dt = lm_now() - t0;
        if (dt < best) best = dt;
        tokens = tok;
    }
    free(ids);
    printf("{\"bytes\":%zu,\"seconds\":%.6f,\"mb_s\":%.3f,\"tokens\":%ld}\n", bytes, best, bytes / best / 1e6, tokens);
}

int main(int argc, char **argv) {
    int spec = 0, decode = 0, info = 0, threads = 0, bench = 0, a = 1;
    const char *ids_of[64];
    int n_ids_of = 0;
    for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
        if (!strcmp(argv[a], "--spec")) spec = 1;
        else if (!strcmp(argv[a], "--decode")) decode = 1;
        else if (!strcmp(argv[a], "--info")) info = 1;
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--bench") && a + 1 < argc) bench = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--id") && a + 1 < argc && n_ids_of < 64) ids_of[n_ids_of++] = argv[++a];
        else fprintf(stderr, "tok_check: unknown option %s\n", argv[a]), exit(2);
    }
    if (a + (info ? 1 : 2) > argc) {
        fprintf(stderr, "usage: tok_check [--spec] [--decode|--info|--threads N|--bench R] TOKENIZER [FILE]\n");
        return 2;
    }
    Tokenizer t;
    char err[512];
    int rc = spec ? load_spec(&t, argv[a], err, sizeof err) : tokenizer_load_json(&t, argv[a], err, sizeof err);
    if (rc) {
        fprintf(stderr, "tok_check: %s\n", err);
        return 2;
    }
    if (info) {
        printf("{\"kind\":%d,\"vocab\":%d,\"bos\":%d,\"eos\":%d,\"pad\":%d,\"unk\":%d,\"add_bos\":%d,"
               "\"add_eos\":%d,\"max_piece\":%zu,\"ids\":[",
               t.kind, t.vocab, t.bos, t.eos, t.pad, t.unk, t.add_bos, t.add_eos, tokenizer_max_piece(&t));
        for (int i = 0; i < n_ids_of; i++) printf(i ? ",%d" : "%d", tokenizer_token_id(&t, ids_of[i]));
        printf("]}\n");
    } else {
        Lines l = read_jsonl(argv[a + 1], decode ? keep_json : keep_string);
        if (decode) run_decode(&t, &l);
        else if (threads) run_threads(&t, &l, threads);
        else if (bench) run_bench(&t, &l, bench);
        else run_texts(&t, &l);
        for (int i = 0; i < l.n; i++) free(l.s[i]);
        free(l.s);
    }
    tokenizer_free(&t);
    return 0;
}
