// tok/tok_json: loads a Hugging Face tokenizer.json into a BPE tokenizer. What HF tokenizers
// can describe but this code does not implement is refused with the file, the key and the
// value in the message, never tokenised differently: model types other than BPE, BPE
// dropout or subword prefixes/suffixes, normalisers other than NFC/NFD/NFKC/NFKD, Prepend,
// Replace (and Sequences of them), pre-tokenisers other than ByteLevel, Split
// (Isolated/Removed), Digits, Metaspace, decoders other than ByteLevel, Replace,
// ByteFallback, Fuse, Strip, Metaspace, added tokens with single_word. Truncation and
// padding settings are not tokenisation and are ignored.
#include "tok_internal.h"

#include "lemma/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    char *err;
    size_t err_len;
    int failed;
} Js;

__attribute__((format(printf, 2, 3))) static int js_fail(Js *j, const char *fmt, ...) {
    if (j->failed) return -1;
    int n = snprintf(j->err, j->err_len, "%s: ", j->path);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < j->err_len) vsnprintf(j->err + n, j->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    j->failed = 1;
    return -1;
}

static const char *js_type(const cJSON *o) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int js_bool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static const char *js_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// A Split/Replace pattern: {"String": s} or {"Regex": r}. *is_re says which.
static const char *js_pattern(Js *j, const cJSON *o, const char *where, int *is_re) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const char *s = js_str(p, "String"), *r = js_str(p, "Regex");
    if (!s && !r) {
        js_fail(j, "%s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", where);
        return NULL;
    }
    *is_re = s == NULL;
    return s ? s : r;
}

static pcre2_code *js_regex(Js *j, const char *pat, const char *where) {
    char e[200];
    pcre2_code *re = tok_regex(pat, strlen(pat), e, sizeof e);
    if (!re) js_fail(j, "%s.pattern '%s': %s", where, pat, e);
    return re;
}

// ---------------------------------------------------------------------------
// normalizer

static TokNorm *norm_push(TokBpe *b, int kind) {
    b->norm = lm_realloc(b->norm, (size_t)(b->n_norm + 1) * sizeof *b->norm);
    TokNorm *n = &b->norm[b->n_norm++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

static int js_normalizer(Js *j, TokBpe *b, const cJSON *o, const char *where) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *t = js_type(o);
    char w[256];
    if (!t) return js_fail(j, "%s: no \"type\"", where);
    if (!strcmp(t, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(arr)) return js_fail(j, "%s.normalizers: expected an array", where);
        for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
            snprintf(w, sizeof w, "%s.normalizers[%d]", where, i);
            if (js_normalizer(j, b, cJSON_GetArrayItem(arr, i), w)) return -1;
        }
        return 0;
    }
    static const char *uni[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int k = 0; k < 4; k++)
        if (!strcmp(t, uni[k])) return norm_push(b, NORM_NFC + k), 0;
    if (!strcmp(t, "Prepend")) {
        const char *p = js_str(o, "prepend");
        if (!p) return js_fail(j, "%s.prepend: expected a string", where);
        TokNorm *n = norm_push(b, NORM_PREPEND);
        n->a = lm_strdup(p), n->alen = strlen(p);
        return 0;
    }
    if (!strcmp(t, "Replace")) {
        int is_re;
        const char *p = js_pattern(j, o, where, &is_re), *c = js_str(o, "content");
        if (!p) return -1;
        if (!c) return js_fail(j, "%s.content: expected a string", where);
        TokNorm *n = norm_push(b, NORM_REPLACE);
        n->a = lm_strdup(p), n->alen = strlen(p), n->b = lm_strdup(c), n->blen = strlen(c);
        if (is_re && !(n->re = js_regex(j, p, where))) return -1;
        return 0;
    }
    return js_fail(j, "%s.type '%s' is not supported (NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)",
                   where, t);
}

// ---------------------------------------------------------------------------
// pre_tokenizer

static const char *const GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static TokPre *pre_push(TokBpe *b, int kind) {
    b->pre = lm_realloc(b->pre, (size_t)(b->n_pre + 1) * sizeof *b->pre);
    TokPre *p = &b->pre[b->n_pre++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    return p;
}

static int js_scheme(Js *j, const cJSON *o, const char *where, int *scheme) {
    const char *s = js_str(o, "prepend_scheme");
    if (!s) {
        *scheme = js_bool(o, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
        return 0;
    }
    if (!strcmp(s, "always")) *scheme = PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *scheme = PREPEND_FIRST;
    else if (!strcmp(s, "never")) *scheme = PREPEND_NEVER;
    else return js_fail(j, "%s.prepend_scheme '%s' is not supported (always, first, never)", where, s);
    return 0;
}

static int js_replacement(Js *j, const cJSON *o, const char *where, char *rep, int *rep_len) {
    const char *r = js_str(o, "replacement");
    uint32_t cp;
    int l = r && r[0] ? tok_utf8_len((const unsigned char *)r, strlen(r), &cp) : 0;
    if (l <= 0 || r[l] != 0) return js_fail(j, "%s.replacement: expected one character", where);
    memcpy(rep, r, (size_t)l), rep[l] = 0, *rep_len = l;
    return 0;
}

int tok_add_bytelevel(TokBpe *b, int prefix_space, int use_regex, char *err, size_t err_len) {
    TokPre *p = pre_push(b, PRE_BYTELEVEL);
    p->prefix_space = prefix_space;
    if (use_regex && !(p->re = tok_regex(GPT2_PATTERN, strlen(GPT2_PATTERN), err, err_len))) return -1;
    return 0;
}

static int js_pre(Js *j, TokBpe *b, const cJSON *o, const char *where) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *t = js_type(o);
    char w[256];
    if (!t) return js_fail(j, "%s: no \"type\"", where);
    if (!strcmp(t, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        if (!cJSON_IsArray(arr)) return js_fail(j, "%s.pretokenizers: expected an array", where);
        for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
            snprintf(w, sizeof w, "%s.pretokenizers[%d]", where, i);
            if (js_pre(j, b, cJSON_GetArrayItem(arr, i), w)) return -1;
        }
        return 0;
    }
    if (b->n_pre && b->pre[b->n_pre - 1].kind == PRE_BYTELEVEL)
        return js_fail(j, "%s: a pre-tokenizer after ByteLevel is not supported", where);
    if (b->n_pre >= TOK_NBUF - 4) return js_fail(j, "%s: too many pre-tokenizers", where);
    if (!strcmp(t, "ByteLevel")) {
        char e[200];
        if (tok_add_bytelevel(b, js_bool(o, "add_prefix_space", 0), js_bool(o, "use_regex", 1), e, sizeof e))
            return js_fail(j, "%s: %s", where, e);
        return 0;
    }
    if (!strcmp(t, "Split")) {
        int is_re;
        const char *p = js_pattern(j, o, where, &is_re), *beh = js_str(o, "behavior");
        if (!p) return -1;
        if (js_bool(o, "invert", 0)) return js_fail(j, "%s.invert true is not supported", where);
        int bh = beh && !strcmp(beh, "Isolated") ? SPLIT_ISOLATED : beh && !strcmp(beh, "Removed") ? SPLIT_REMOVED : -1;
        if (bh < 0)
            return js_fail(j, "%s.behavior '%s' is not supported (Isolated, Removed)", where, beh ? beh : "(none)");
        TokPre *s = pre_push(b, PRE_SPLIT);
        s->behavior = bh;
        if (!is_re) s->lit = lm_strdup(p), s->lit_len = strlen(p);
        else if (!(s->re = js_regex(j, p, where))) return -1;
        if (is_re) s->pat = lm_strdup(p);
        return 0;
    }
    if (!strcmp(t, "Digits")) {
        const char *pat = js_bool(o, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+";
        TokPre *s = pre_push(b, PRE_SPLIT);
        s->behavior = SPLIT_ISOLATED, s->pat = lm_strdup(pat);
        return (s->re = js_regex(j, pat, where)) ? 0 : -1;
    }
    if (!strcmp(t, "Metaspace")) {
        TokPre *s = pre_push(b, PRE_METASPACE);
        s->split = js_bool(o, "split", 1);
        if (js_replacement(j, o, where, s->rep, &s->rep_len) || js_scheme(j, o, where, &s->scheme)) return -1;
        return 0;
    }
    return js_fail(j, "%s.type '%s' is not supported (ByteLevel, Split, Digits, Metaspace, Sequence)", where, t);
}

// ---------------------------------------------------------------------------
// decoder

static TokDec *dec_push(TokBpe *b, int kind) {
    b->dec = lm_realloc(b->dec, (size_t)(b->n_dec + 1) * sizeof *b->dec);
    TokDec *d = &b->dec[b->n_dec++];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    return d;
}

static int js_decoder(Js *j, TokBpe *b, const cJSON *o, const char *where) {
    if (!o || cJSON_IsNull(o)) return 0;
    b->has_decoder = 1;
    const char *t = js_type(o);
    char w[256];
    if (!t) return js_fail(j, "%s: no \"type\"", where);
    if (!strcmp(t, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "decoders");
        if (!cJSON_IsArray(arr)) return js_fail(j, "%s.decoders: expected an array", where);
        for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
            snprintf(w, sizeof w, "%s.decoders[%d]", where, i);
            if (js_decoder(j, b, cJSON_GetArrayItem(arr, i), w)) return -1;
        }
        return 0;
    }
    if (!strcmp(t, "ByteLevel")) return dec_push(b, DEC_BYTELEVEL), 0;
    if (!strcmp(t, "ByteFallback")) return dec_push(b, DEC_BYTEFALLBACK), 0;
    if (!strcmp(t, "Fuse")) return dec_push(b, DEC_FUSE), 0;
    if (!strcmp(t, "Replace")) {
        int is_re;
        const char *p = js_pattern(j, o, where, &is_re), *c = js_str(o, "content");
        if (!p) return -1;
        if (is_re) return js_fail(j, "%s.pattern: a Regex pattern is not supported in a decoder", where);
        if (!c) return js_fail(j, "%s.content: expected a string", where);
        TokDec *d = dec_push(b, DEC_REPLACE);
        d->a = lm_strdup(p), d->alen = strlen(p), d->b = lm_strdup(c), d->blen = strlen(c);
        return 0;
    }
    if (!strcmp(t, "Strip")) {
        const char *c = js_str(o, "content");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "start"), *sp = cJSON_GetObjectItemCaseSensitive(o, "stop");
        uint32_t cp;
        if (!c || tok_utf8_len((const unsigned char *)c, strlen(c), &cp) != (int)strlen(c) || !strlen(c))
            return js_fail(j, "%s.content: expected one character", where);
        if (!cJSON_IsNumber(st) || !cJSON_IsNumber(sp)) return js_fail(j, "%s: start and stop must be numbers", where);
        TokDec *d = dec_push(b, DEC_STRIP);
        d->a = lm_strdup(c), d->alen = strlen(c), d->start = st->valueint, d->stop = sp->valueint;
        return 0;
    }
    if (!strcmp(t, "Metaspace")) {
        TokDec *d = dec_push(b, DEC_METASPACE);
        char rep[8];
        int rl;
        if (js_replacement(j, o, where, rep, &rl) || js_scheme(j, o, where, &d->scheme)) return -1;
        d->a = lm_strdup(rep), d->alen = (size_t)rl;
        return 0;
    }
    return js_fail(j, "%s.type '%s' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, "
                      "Metaspace, Sequence)", where, t);
}

// ---------------------------------------------------------------------------
// post_processor: whether bos / eos are added (TemplateProcessing's single template)

static int js_special_id(const cJSON *tp, const cJSON *item) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
    const char *name = js_str(st, "id");
    if (!name) return -1;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tp, "special_tokens"), name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    const cJSON *id0 = cJSON_IsArray(ids) ? cJSON_GetArrayItem(ids, 0) : NULL;
    return cJSON_IsNumber(id0) ? id0->valueint : -1;
}

static int js_post(Js *j, Tokenizer *t, const cJSON *o, const char *where) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = js_type(o);
    char w[256];
    if (!ty) return js_fail(j, "%s: no \"type\"", where);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "processors");
        for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
            snprintf(w, sizeof w, "%s.processors[%d]", where, i);
            if (js_post(j, t, cJSON_GetArrayItem(arr, i), w)) return -1;
        }
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) return 0;
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single");
        int n = cJSON_GetArraySize(single);
        if (n < 1) return js_fail(j, "%s.single: expected a non-empty array", where);
        int first = js_special_id(o, cJSON_GetArrayItem(single, 0));
        int last = n > 1 ? js_special_id(o, cJSON_GetArrayItem(single, n - 1)) : -1;
        if (first >= 0) t->add_bos = 1, t->bos = first;
        if (last >= 0) t->add_eos = 1, t->eos = last;
        return 0;
    }
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(o, "cls"), *sep = cJSON_GetObjectItemCaseSensitive(o, "sep");
        const cJSON *c1 = cJSON_GetArrayItem(cls, 1), *s1 = cJSON_GetArrayItem(sep, 1);
        if (cJSON_IsNumber(c1)) t->add_bos = 1, t->bos = c1->valueint;
        if (cJSON_IsNumber(s1)) t->add_eos = 1, t->eos = s1->valueint;
        return 0;
    }
    return js_fail(j, "%s.type '%s' is not supported (TemplateProcessing, ByteLevel, Bert/RobertaProcessing, "
                      "Sequence)", where, ty);
}

// ---------------------------------------------------------------------------
// model

static int js_model_flags(Js *j, TokBpe *b, const cJSON *m) {
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (dr && !cJSON_IsNull(dr) && !(cJSON_IsNumber(dr) && dr->valuedouble == 0))
        return js_fail(j, "model.dropout %g is not supported (null only)", cJSON_IsNumber(dr) ? dr->valuedouble : -1.0);
    static const char *aff[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *s = js_str(m, aff[i]);
        if (s && s[0]) return js_fail(j, "model.%s '%s' is not supported (null only)", aff[i], s);
    }
    b->fuse_unk = js_bool(m, "fuse_unk", 0);
    b->byte_fallback = js_bool(m, "byte_fallback", 0);
    b->ignore_merges = js_bool(m, "ignore_merges", 0);
    return 0;
}

static int js_vocab(Js *j, TokBpe *b, const cJSON *m) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    if (!cJSON_IsObject(v)) return js_fail(j, "model.vocab: expected an object");
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 1e8)
            return js_fail(j, "model.vocab['%s']: expected an id", e->string);
        tok_bpe_set_vocab(b, e->valueint, e->string, strlen(e->string));
    }
    const char *unk = js_str(m, "unk_token");
    if (unk) b->unk = strmap_get(&b->model, unk, strlen(unk));
    return 0;
}

static int js_added(Js *j, TokBpe *b, const cJSON *root) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return js_fail(j, "added_tokens: expected an array");
    int i = 0;
    for (const cJSON *a = arr->child; a; a = a->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const char *c = js_str(a, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || !c)
            return js_fail(j, "added_tokens[%d]: expected an id and a content", i);
        if (js_bool(a, "single_word", 0))
            return js_fail(j, "added_tokens[%d] ('%s'): single_word true is not supported", i, c);
        tok_bpe_add_token(b, c, strlen(c), id->valueint, js_bool(a, "special", 0), js_bool(a, "normalized", 1),
                          js_bool(a, "lstrip", 0), js_bool(a, "rstrip", 0));
    }
    return 0;
}

// Merges "a b" (one space) or ["a", "b"]; the rank is the position.
static int js_merges(Js *j, TokBpe *b, const cJSON *m) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return js_fail(j, "model.merges: expected an array");
    int rank = 0;
    for (const cJSON *e = arr->child; e; e = e->next, rank++) {
        const char *a, *c;
        size_t an, cn;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return js_fail(j, "model.merges[%d] '%s': expected \"a b\"", rank, e->valuestring);
            a = e->valuestring, an = (size_t)(sp - a), c = sp + 1, cn = strlen(c);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring, an = strlen(a), c = e->child->next->valuestring, cn = strlen(c);
        } else {
            return js_fail(j, "model.merges[%d]: expected \"a b\" or [a, b]", rank);
        }
        if (tok_bpe_add_merge(b, a, an, c, cn, rank))
            return js_fail(j, "model.merges[%d] '%.*s' '%.*s': a part or the merged token is not in model.vocab",
                           rank, (int)an, a, (int)cn, c);
    }
    return 0;
}

static int js_build(Js *j, Tokenizer *t, const cJSON *root) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(m)) return js_fail(j, "no \"model\" object");
    const char *type = js_type(m);
    if (!type && cJSON_GetObjectItemCaseSensitive(m, "merges")) type = "BPE";
    if (!type || strcmp(type, "BPE"))
        return js_fail(j, "model.type '%s' is not supported (BPE only)", type ? type : "(none)");
    TokBpe *b = tok_bpe_new();
    t->bpe = b;
    if (js_model_flags(j, b, m) || js_vocab(j, b, m) || js_added(j, b, root) ||
        js_normalizer(j, b, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer") ||
        js_pre(j, b, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pre_tokenizer") ||
        js_decoder(j, b, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder") ||
        js_post(j, t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "post_processor"))
        return -1;
    for (int i = 0; i < b->n_pre; i++)
        if (b->pre[i].kind == PRE_METASPACE && b->byte_level)
            return js_fail(j, "pre_tokenizer: Metaspace together with ByteLevel is not supported");
    char e[200];
    if (tok_bpe_finish(b, e, sizeof e)) return js_fail(j, "%s", e);
    return js_merges(j, b, m);
}

int tokenizer_load_json(Tokenizer *t, const char *path, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    t->bos = t->eos = t->pad = t->unk = -1;
    Js j = {path, err, err_len, 0};
    size_t len;
    char *text = lm_read_file(path, &len);
    if (!text) return js_fail(&j, "cannot read (%s)", strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        int line = 1;
        for (size_t i = 0; i < off; i++) line += text[i] == '\n';
        free(text);
        return js_fail(&j, "malformed JSON (line %d, byte %zu)", line, off);
    }
    free(text);
    int rc = cJSON_IsObject(root) ? js_build(&j, t, root) : js_fail(&j, "expected a JSON object");
    cJSON_Delete(root);
    if (rc) {
        tok_bpe_free(t->bpe);
        memset(t, 0, sizeof *t);
        t->bos = t->eos = t->pad = t->unk = -1;
        return -1;
    }
    int bos = t->bos, eos = t->eos, ab = t->add_bos, ae = t->add_eos;
    tok_bpe_init_tokenizer(t, t->bpe);
    t->bos = bos, t->eos = eos, t->add_bos = ab, t->add_eos = ae;
    return 0;
}
