// tests/unit/test_util: Philox 4x32-10 known answers and the lm_rng_* helpers
// (layout, ranges, moments, determinism), and the JSONL reader/writer (bad lines,
// line numbers, UTF-8 checks, CRLF, long lines, round trips).
#include "harness.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// RNG

// Known-answer vectors: the three "philox4x32 10" lines of Random123's tests/kat_vectors
// (https://github.com/DEShawResearch/random123), as copied into D. E. Shaw Research's
// Random123-Boost, libs/random/test/test_philox.cpp (commit 916db91ae4c6), whose comment
// says they are cut and pasted from that kat_vectors file:
//   philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
//   philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
//   philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
// Columns: counter words 0..3, key words 0..1, expected output words 0..3.
static void test_philox_kat(void) {
    static const uint32_t kat[3][10] = {
        {0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, //
         0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, //
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, //
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        Philox4x32 ctr = {{kat[t][0], kat[t][1], kat[t][2], kat[t][3]}};
        Philox4x32 out = philox4x32_10(ctr, kat[t][4], kat[t][5]);
        for (int w = 0; w < 4; w++)
            EXPECT(out.v[w] == kat[t][6 + w], "vector %d word %d: got %08x want %08x", t, w,
                   out.v[w], kat[t][6 + w]);
    }
}

// lm_rng_block packs counter and stream into the counter words and seed into the key.
static void test_rng_block_layout(void) {
    uint64_t seed = 0x0123456789abcdefULL, stream = 0xfedcba9876543210ULL;
    uint64_t counter = 0x1122334455667788ULL;
    Philox4x32 ctr = {{0x55667788, 0x11223344, 0x76543210, 0xfedcba98}};
    Philox4x32 want = philox4x32_10(ctr, 0x89abcdef, 0x01234567);
    Philox4x32 got = lm_rng_block(seed, stream, counter);
    for (int w = 0; w < 4; w++) EXPECT(got.v[w] == want.v[w], "word %d", w);
}

static void test_rng_u32_matches_block(void) {
    uint64_t seed = 1234, stream = LM_STREAM_TEST;
    for (uint64_t i = 0; i < 64; i++) {
        Philox4x32 b = lm_rng_block(seed, stream, i / 4);
        EXPECT(lm_rng_u32(seed, stream, i) == b.v[i % 4], "i=%llu", (unsigned long long)i);
    }
    uint64_t big = (1ULL << 34) + 7; // counter above 32 bits
    EXPECT(lm_rng_u32(seed, stream, big) == lm_rng_block(seed, stream, big / 4).v[3], "big i");
}

static void test_rng_uniform(void) {
    const int n = 1000000;
    double sum = 0, sumsq = 0;
    int out_of_range = 0, not_formula = 0;
    for (int i = 0; i < n; i++) {
        float u = lm_rng_uniform(42, LM_STREAM_TEST, (uint64_t)i);
        if (!(u >= 0.0f && u < 1.0f)) out_of_range++;
        if (u != (float)(lm_rng_u32(42, LM_STREAM_TEST, (uint64_t)i) >> 8) / 16777216.0f)
            not_formula++;
        sum += u;
        sumsq += (double)u * u;
    }
    double mean = sum / n, var = sumsq / n - mean * mean;
    EXPECT(out_of_range == 0, "%d draws outside [0,1)", out_of_range);
    EXPECT(not_formula == 0, "%d draws differ from (u32>>8)*2^-24", not_formula);
    // standard error of the mean: sqrt(1/12/n) = 2.9e-4; allow 5 of them
    EXPECT(fabs(mean - 0.5) < 1.5e-3, "mean %f", mean);
    EXPECT(fabs(var - 1.0 / 12.0) < 1e-3, "variance %f (want 1/12)", var);
}

static void test_rng_normal(void) {
    const int n = 1000000;
    double sum = 0, sumsq = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float z = lm_rng_normal(7, LM_STREAM_TEST, (uint64_t)i);
        if (!isfinite(z)) bad++;
        sum += z;
        sumsq += (double)z * z;
    }
    double mean = sum / n, var = sumsq / n - mean * mean;
    EXPECT(bad == 0, "%d non-finite draws", bad);
    EXPECT(fabs(mean) < 0.01, "mean %f", mean);
    EXPECT(fabs(var - 1.0) < 0.01, "variance %f", var);
}

// Box-Muller on words 0 and 1 of block i, as documented.
static void test_rng_normal_formula(void) {
    for (uint64_t i = 0; i < 100; i++) {
        Philox4x32 b = lm_rng_block(3, LM_STREAM_TEST, i);
        double u1 = ((b.v[0] >> 8) + 1.0) / 16777216.0, u2 = (b.v[1] >> 8) / 16777216.0;
        float want = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
        float got = lm_rng_normal(3, LM_STREAM_TEST, i);
        EXPECT(fabsf(got - want) <= 1e-6f * (1.0f + fabsf(want)), "i=%llu got %f want %f",
               (unsigned long long)i, got, want);
    }
}

static int same_prefix(uint64_t s1, uint64_t st1, uint64_t s2, uint64_t st2) {
    int same = 0;
    for (uint64_t i = 0; i < 256; i++) same += lm_rng_u32(s1, st1, i) == lm_rng_u32(s2, st2, i);
    return same;
}

static void test_rng_streams_and_seeds_differ(void) {
    // two unrelated 256-word sequences agree in a word with probability ~2^-24
    EXPECT(same_prefix(1, LM_STREAM_INIT, 1, LM_STREAM_DATA) == 0, "streams 1 vs 2");
    EXPECT(same_prefix(1, LM_STREAM_INIT, 2, LM_STREAM_INIT) == 0, "seeds 1 vs 2");
    EXPECT(same_prefix(1ULL << 32, 5, 0, 5) == 0, "seed high word ignored");
    EXPECT(same_prefix(9, 5ULL << 32, 9, 0) == 0, "stream high word ignored");
    EXPECT(lm_rng_u32(9, 5, 0) != lm_rng_u32(9, 5, 4ULL << 32), "counter high word ignored");
}

static void test_rng_deterministic(void) {
    EXPECT(same_prefix(77, LM_STREAM_SAMPLE, 77, LM_STREAM_SAMPLE) == 256, "u32 not repeatable");
    int diff = 0;
    for (uint64_t i = 1000; i > 0; i--) // reverse order: no hidden state
        diff += lm_rng_normal(5, 6, i) != lm_rng_normal(5, 6, i) ||
                lm_rng_uniform(5, 6, i) != lm_rng_uniform(5, 6, i);
    EXPECT(diff == 0, "%d draws not repeatable", diff);
}

// ---------------------------------------------------------------------------
// JSONL

static char tmp_dir_path[256];

static const char *tmp_path(const char *name) {
    snprintf(tmp_dir_path, sizeof(tmp_dir_path), "/tmp/lemma_test_util_%d_%s", (int)getpid(),
             name);
    return tmp_dir_path;
}

static void write_bytes(const char *path, const char *data, size_t len) {
    FILE *f = lm_fopen(path, "wb");
    if (len && fwrite(data, 1, len, f) != len) lm_fatal("cannot write %s", path);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static double num(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

// Reads every object of path; stores the value of key "a" and r.line of each in vals/lines.
static int read_all(const char *path, LmJsonlReader *r, double *vals, long *lines, int max) {
    EXPECT(lm_jsonl_open(r, path) == 0, "cannot open %s", path);
    r->quiet = 1;
    int n = 0;
    cJSON *obj;
    while ((obj = lm_jsonl_next(r))) {
        if (n < max) vals[n] = num(obj, "a"), lines[n] = r->line;
        n++;
        cJSON_Delete(obj);
    }
    return n;
}

static void test_jsonl_good_lines(void) {
    const char *p = tmp_path("good.jsonl");
    write_text(p, "{\"a\":1}\n{\"a\":2,\"b\":[1,2]}\n{\"a\":3, \"c\":{\"d\":null}}\n");
    LmJsonlReader r;
    double v[8];
    long ln[8];
    int n = read_all(p, &r, v, ln, 8);
    EXPECT(n == 3 && r.n_ok == 3 && r.n_bad == 0, "n=%d ok=%ld bad=%ld", n, r.n_ok, r.n_bad);
    for (int i = 0; i < 3 && i < n; i++)
        EXPECT(v[i] == i + 1 && ln[i] == i + 1, "obj %d: a=%g line=%ld", i, v[i], ln[i]);
    EXPECT(lm_jsonl_next(&r) == NULL, "next after EOF");
    lm_jsonl_close(&r);
    EXPECT(r.f == NULL && r.buf == NULL && r.path == NULL, "close did not zero");
    EXPECT(lm_jsonl_next(&r) == NULL, "next after close");
    unlink(p);
}

static void test_jsonl_blank_lines_skipped(void) {
    const char *p = tmp_path("blank.jsonl");
    write_text(p, "\n{\"a\":1}\n   \n\t \r\n\n{\"a\":2}\n\n");
    LmJsonlReader r;
    double v[8];
    long ln[8];
    int n = read_all(p, &r, v, ln, 8);
    EXPECT(n == 2 && r.n_bad == 0, "n=%d bad=%ld", n, r.n_bad);
    EXPECT(n == 2 && ln[0] == 2 && ln[1] == 6, "lines %ld %ld", ln[0], ln[1]);
    EXPECT(v[0] == 1 && v[1] == 2, "values");
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_bad_json_in_middle(void) {
    const char *p = tmp_path("badmid.jsonl");
    write_text(p, "{\"a\":1}\n{\"a\":\n{\"a\":3}\n{\"a\":4}\n");
    LmJsonlReader r;
    double v[8];
    long ln[8];
    int n = read_all(p, &r, v, ln, 8);
    EXPECT(n == 3 && r.n_ok == 3 && r.n_bad == 1, "n=%d ok=%ld bad=%ld", n, r.n_ok, r.n_bad);
    EXPECT(n == 3 && v[1] == 3 && ln[1] == 3 && v[2] == 4 && ln[2] == 4, "after the bad line");
    lm_jsonl_close(&r);
    unlink(p);
}

// Runs the reader with quiet=0 and stderr sent to a file; returns what was printed.
static char *read_with_warnings(const char *path, long *n_ok, long *n_bad) {
    const char *errp = tmp_path("stderr.txt");
    char errpath[256];
    snprintf(errpath, sizeof(errpath), "%s", errp);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) lm_fatal("cannot redirect stderr: %s", strerror(errno));
    dup2(fd, 2);
    close(fd);
    LmJsonlReader r;
    lm_jsonl_open(&r, path);
    cJSON *obj;
    while ((obj = lm_jsonl_next(&r))) cJSON_Delete(obj);
    *n_ok = r.n_ok, *n_bad = r.n_bad;
    lm_jsonl_close(&r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = lm_read_file(errpath, NULL);
    unlink(errpath);
    return text;
}

static void test_jsonl_warning_messages(void) {
    char p[256];
    snprintf(p, sizeof(p), "%s", tmp_path("warn.jsonl"));
    write_text(p, "{\"a\":1}\n{oops}\n[1,2]\n\"caf\xC3\x28\"\n{\"a\":5}\n");
    long ok, bad;
    char *err = read_with_warnings(p, &ok, &bad);
    EXPECT(ok == 2 && bad == 3, "ok=%ld bad=%ld", ok, bad);
    char want[512];
    const char *reasons[3] = {"not valid JSON", "not a JSON object", "invalid UTF-8"};
    for (int i = 0; i < 3; i++) {
        snprintf(want, sizeof(want), "%s:%d: malformed JSONL line skipped (%s)\n", p, i + 2,
                 reasons[i]);
        EXPECT(err && strstr(err, want), "missing warning '%s' in:\n%s", want, err ? err : "");
    }
    free(err);
    unlink(p);
}

static void test_jsonl_invalid_utf8(void) {
    const char *p = tmp_path("utf8.jsonl");
    static const char data[] = "{\"a\":1}\n"
                               "{\"s\":\"\xC3\x28\"}\n"             // bad continuation byte
                               "{\"s\":\"\xED\xA0\x80\"}\n"         // surrogate U+D800
                               "{\"s\":\"\xF8\x88\x80\x80\x80\"}\n" // 5-byte form
                               "{\"s\":\"\xC0\xAF\"}\n"             // overlong '/'
                               "{\"s\":\"\xE0\x80\xAF\"}\n"         // overlong, 3 bytes
                               "{\"s\":\"\xF0\x80\x80\xAF\"}\n"     // overlong, 4 bytes
                               "{\"s\":\"\xF4\x90\x80\x80\"}\n"     // U+110000
                               "{\"s\":\"\x80\"}\n"                 // lone continuation
                               "{\"s\":\"\xFF\"}\n"                 // never valid
                               "{\"s\":\"x\"}\xE6\x95\n"            // truncated sequence
                               "{\"s\":\"\xE6\x95\"}\n"             // truncated, mid-line
                               "{\"a\":2}\n";
    write_text(p, data);
    LmJsonlReader r;
    double v[8];
    long ln[8];
    int n = read_all(p, &r, v, ln, 8);
    EXPECT(n == 2 && r.n_bad == 11, "n=%d bad=%ld", n, r.n_bad);
    EXPECT(n == 2 && v[1] == 2 && ln[1] == 13, "last object a=%g line=%ld", v[1], ln[1]);
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_not_object_and_trailing(void) {
    const char *p = tmp_path("notobj.jsonl");
    static const char data[] = "[1,2]\n42\n\"str\"\nnull\ntrue\n"
                               "{\"a\":1} x\n{\"a\":1}{\"a\":2}\n{\"a\":1},\n{\"a\":1\n"
                               "{\"a\":7}   \t\n";
    // one more bad line: a raw NUL byte inside a string (cJSON alone would cut the string)
    static const char nul_line[] = "{\"s\":\"a\0b\"}\n{\"a\":8}\n";
    char buf[256];
    size_t len = sizeof(data) - 1;
    memcpy(buf, data, len);
    memcpy(buf + len, nul_line, sizeof(nul_line) - 1);
    write_bytes(p, buf, len + sizeof(nul_line) - 1);
    LmJsonlReader r;
    double v[8];
    long ln[8];
    int n = read_all(p, &r, v, ln, 8);
    EXPECT(n == 2 && r.n_bad == 10, "n=%d bad=%ld", n, r.n_bad);
    EXPECT(n == 2 && v[0] == 7 && ln[0] == 10 && v[1] == 8 && ln[1] == 12, "good lines");
    EXPECT(fabs(lm_jsonl_bad_fraction(&r) - 10.0 / 12.0) < 1e-12, "bad fraction %f",
           lm_jsonl_bad_fraction(&r));
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_crlf_and_no_final_newline(void) {
    const char *p = tmp_path("crlf.jsonl");
    write_text(p, "{\"a\":1,\"s\":\"x\"}\r\n\r\n{\"a\":2,\"s\":\"y\"}\r\n{\"a\":3,\"s\":\"z\"}");
    LmJsonlReader r;
    EXPECT(lm_jsonl_open(&r, p) == 0, "open");
    const char *want[3] = {"x", "y", "z"};
    long want_line[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        cJSON *o = lm_jsonl_next(&r);
        EXPECT(o != NULL, "object %d missing", i);
        if (!o) break;
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "s"));
        EXPECT(s && strcmp(s, want[i]) == 0, "object %d: s='%s'", i, s ? s : "(null)");
        EXPECT(num(o, "a") == i + 1 && r.line == want_line[i], "object %d line %ld", i, r.line);
        cJSON_Delete(o);
    }
    EXPECT(lm_jsonl_next(&r) == NULL && r.n_bad == 0, "end: bad=%ld", r.n_bad);
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_long_line(void) {
    const char *p = tmp_path("long.jsonl");
    const size_t slen = 1 << 20;
    char *s = lm_malloc(slen + 1);
    for (size_t i = 0; i < slen; i++) s[i] = (char)('a' + i % 26);
    s[slen] = 0;
    FILE *f = lm_fopen(p, "wb");
    fprintf(f, "{\"a\":1}\n{\"a\":2,\"s\":\"%s\"}\n{\"a\":3}\n", s);
    fclose(f);
    LmJsonlReader r;
    EXPECT(lm_jsonl_open(&r, p) == 0, "open");
    cJSON *o1 = lm_jsonl_next(&r), *o2 = lm_jsonl_next(&r), *o3 = lm_jsonl_next(&r);
    const char *got = o2 ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o2, "s")) : NULL;
    EXPECT(got && strlen(got) == slen && memcmp(got, s, slen) == 0, "long string differs");
    EXPECT(o3 && num(o3, "a") == 3 && r.line == 3, "line after the long one");
    EXPECT(o1 && r.n_ok == 3 && r.n_bad == 0, "counts");
    cJSON_Delete(o1);
    cJSON_Delete(o2);
    cJSON_Delete(o3);
    lm_jsonl_close(&r);
    free(s);
    unlink(p);
}

static void test_jsonl_write_read_utf8_round_trip(void) {
    const char *p = tmp_path("roundtrip.jsonl");
    const char *words[4] = {"Caf\xC3\xA9", "\xE6\x95\xB0\xE5\xAD\xA6", "\xF0\x9F\x98\x80",
                            "quote \" backslash \\ newline \n tab \t"};
    FILE *f = lm_fopen(p, "wb");
    for (int i = 0; i < 4; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "a", i);
        cJSON_AddStringToObject(o, "s", words[i]);
        lm_jsonl_write(f, o);
        cJSON_Delete(o);
    }
    fclose(f);
    char *text = lm_read_file(p, NULL);
    EXPECT(text && strstr(text, "\xE6\x95\xB0\xE5\xAD\xA6"), "UTF-8 not written as is");
    int newlines = 0;
    for (char *c = text; c && *c; c++) newlines += *c == '\n';
    EXPECT(newlines == 4, "%d newlines, want one per object", newlines);
    free(text);
    LmJsonlReader r;
    EXPECT(lm_jsonl_open(&r, p) == 0, "open");
    for (int i = 0; i < 4; i++) {
        cJSON *o = lm_jsonl_next(&r);
        const char *s = o ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "s")) : NULL;
        EXPECT(s && strcmp(s, words[i]) == 0 && num(o, "a") == i, "object %d differs", i);
        cJSON_Delete(o);
    }
    EXPECT(lm_jsonl_next(&r) == NULL && r.n_bad == 0, "extra or bad lines");
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_bad_fraction(void) {
    LmJsonlReader r;
    memset(&r, 0, sizeof(r));
    EXPECT(lm_jsonl_bad_fraction(&r) == 0.0, "empty reader");
    const char *p = tmp_path("frac.jsonl");
    write_text(p, "{\"a\":1}\nbad\n{\"a\":2}\n{\"a\":3}\n");
    double v[8];
    long ln[8];
    read_all(p, &r, v, ln, 8);
    EXPECT(lm_jsonl_bad_fraction(&r) == 0.25, "fraction %f", lm_jsonl_bad_fraction(&r));
    lm_jsonl_close(&r);
    write_text(p, "");
    EXPECT(read_all(p, &r, v, ln, 8) == 0, "empty file gave objects");
    EXPECT(lm_jsonl_bad_fraction(&r) == 0.0, "empty file fraction");
    lm_jsonl_close(&r);
    unlink(p);
}

static void test_jsonl_open_missing(void) {
    LmJsonlReader r;
    errno = 0;
    EXPECT(lm_jsonl_open(&r, "/nonexistent/lemma/x.jsonl") == -1, "open succeeded");
    EXPECT(errno == ENOENT, "errno %d", errno);
    EXPECT(r.f == NULL && r.path == NULL, "struct not clean");
    lm_jsonl_close(&r); // safe on a failed open
}

int main(void) {
    RUN_TEST(test_philox_kat);
    RUN_TEST(test_rng_block_layout);
    RUN_TEST(test_rng_u32_matches_block);
    RUN_TEST(test_rng_uniform);
    RUN_TEST(test_rng_normal);
    RUN_TEST(test_rng_normal_formula);
    RUN_TEST(test_rng_streams_and_seeds_differ);
    RUN_TEST(test_rng_deterministic);
    RUN_TEST(test_jsonl_good_lines);
    RUN_TEST(test_jsonl_blank_lines_skipped);
    RUN_TEST(test_jsonl_bad_json_in_middle);
    RUN_TEST(test_jsonl_warning_messages);
    RUN_TEST(test_jsonl_invalid_utf8);
    RUN_TEST(test_jsonl_not_object_and_trailing);
    RUN_TEST(test_jsonl_crlf_and_no_final_newline);
    RUN_TEST(test_jsonl_long_line);
    RUN_TEST(test_jsonl_write_read_utf8_round_trip);
    RUN_TEST(test_jsonl_bad_fraction);
    RUN_TEST(test_jsonl_open_missing);
    TEST_EXIT();
}
