// config/config: loads a libconfig file against the schema (schema.c), applies --set
// overrides, fills defaults and validates types, ranges and choices with messages that name
// the file, line and key; typed accessors; the dump (libconfig syntax that loads back to the
// same values) and the Markdown reference of the schema.
#include "lemma/config.h"
#include "lemma/util.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_MSG 512        // one validation message
#define CFG_DUMP_ALIGN 44  // comments in the dump line up at most at this column

// ---------------------------------------------------------------------------
// Schema lookup and small helpers

static int cfg_find(const char *key) {
    for (int i = 0; i < cfg_schema_len; i++)
        if (strcmp(cfg_schema[i].key, key) == 0) return i;
    return -1;
}

static const char *cfg_type_name(CfgType t) {
    switch (t) {
    case CFG_INT: return "int";
    case CFG_FLOAT: return "float";
    case CFG_BOOL: return "bool";
    case CFG_STRING: return "string";
    case CFG_ENUM: return "enum";
    case CFG_LIST: return "list";
    }
    return "?";
}

// Length of the section part of a key ("train" in "train.lr").
static size_t cfg_section_len(const char *key) {
    const char *dot = strchr(key, '.');
    return dot ? (size_t)(dot - key) : strlen(key);
}

static int cfg_same_section(const char *a, const char *b) {
    size_t n = cfg_section_len(a);
    return n == cfg_section_len(b) && strncmp(a, b, n) == 0;
}

// The part after the first dot ("lr" in "train.lr"); the whole key when there is none.
static const char *cfg_after_dot(const char *key) {
    const char *dot = strchr(key, '.');
    return dot ? dot + 1 : key;
}

// Is word one of the '|'-separated choices?
static int cfg_choice_ok(const char *choices, const char *word) {
    size_t n = strlen(word);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

// A NUL-terminated copy of s[0..n).
static char *cfg_dup_n(const char *s, size_t n) {
    char *d = lm_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

// A copy of s[0..n) without surrounding whitespace.
static char *cfg_trim_dup(const char *s, size_t n) {
    while (n > 0 && isspace((unsigned char)*s)) s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    return cfg_dup_n(s, n);
}

// A copy of s without one pair of surrounding double quotes.
static char *cfg_unquote_dup(const char *s) {
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') return cfg_dup_n(s + 1, n - 2);
    return cfg_dup_n(s, n);
}

static void cfg_value_clear(CfgValue *v) {
    free(v->s);
    for (int i = 0; i < v->n_items; i++) free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

// Moves v into slot i of c, freeing what was there.
static void cfg_store(Config *c, int i, CfgValue *v) {
    cfg_value_clear(&c->vals[i]);
    c->vals[i] = *v;
    memset(v, 0, sizeof *v);
}

// Writes one message into err and returns 2 (the user-error code).
__attribute__((format(printf, 3, 4))) static int cfg_fail(char *err, size_t len, const char *fmt,
                                                          ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return 2;
}

// Shortest "%.Ng" text that reads back as exactly x.
static void cfg_fmt_float(double x, char *buf, size_t len) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

// A range bound as text: integral for CFG_INT, shortest round-trip for CFG_FLOAT.
static void cfg_fmt_bound(const CfgEntry *e, double x, char *buf, size_t len) {
    if (e->type == CFG_INT) snprintf(buf, len, "%.0f", x);
    else cfg_fmt_float(x, buf, len);
}

// "key 'k' = VALUE is out of range [lo, hi]"
static int cfg_range_msg(const CfgEntry *e, const char *value, char *msg, size_t len) {
    char lo[64], hi[64];
    cfg_fmt_bound(e, e->min, lo, sizeof lo);
    cfg_fmt_bound(e, e->max, hi, sizeof hi);
    snprintf(msg, len, "key '%s' = %s is out of range [%s, %s]", e->key, value, lo, hi);
    return -1;
}

// "unknown key 'k'" plus the closest known key when there is one.
static void cfg_unknown_msg(const char *key, char *msg, size_t len) {
    const char *near = config_suggest(key);
    if (near) snprintf(msg, len, "unknown key '%s' (did you mean '%s'?)", key, near);
    else snprintf(msg, len, "unknown key '%s'", key);
}

// ---------------------------------------------------------------------------
// Validation shared by the file, --set and the defaults: range, choices, list items.

static int cfg_check_value(const CfgEntry *e, const CfgValue *v, char *msg, size_t len) {
    char text[64];
    switch (e->type) {
    case CFG_INT:
        snprintf(text, sizeof text, "%lld", (long long)v->i);
        if ((double)v->i < e->min || (double)v->i > e->max) return cfg_range_msg(e, text, msg, len);
        return 0;
    case CFG_FLOAT:
        cfg_fmt_float(v->f, text, sizeof text);
        if (!(v->f >= e->min && v->f <= e->max)) return cfg_range_msg(e, text, msg, len);
        return 0;
    case CFG_ENUM:
        if (cfg_choice_ok(e->choices, v->s)) return 0;
        snprintf(msg, len, "key '%s' = '%s' is not one of %s", e->key, v->s, e->choices);
        return -1;
    case CFG_LIST:
        for (int i = 0; i < v->n_items; i++) {
            if (!v->items[i][0]) {
                snprintf(msg, len, "key '%s' has an empty item", e->key);
                return -1;
            }
            if (e->choices && !cfg_choice_ok(e->choices, v->items[i])) {
                snprintf(msg, len, "key '%s' item '%s' is not one of %s", e->key, v->items[i],
                         e->choices);
                return -1;
            }
        }
        return 0;
    case CFG_BOOL:
    case CFG_STRING: return 0;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Values written as text: --set and the schema defaults.

// 0 ok, -1 not an integer, -2 beyond 64 bits.
static int cfg_parse_int(const char *s, int64_t *out) {
    char *t = cfg_trim_dup(s, strlen(s)), *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    int rc = (!t[0] || *end) ? -1 : errno == ERANGE ? -2 : 0;
    free(t);
    *out = x;
    return rc;
}

// 0 ok, -1 not a number (NaN is not a number here).
static int cfg_parse_float(const char *s, double *out) {
    char *t = cfg_trim_dup(s, strlen(s)), *end;
    double x = strtod(t, &end);
    int rc = (!t[0] || *end || x != x) ? -1 : 0;
    free(t);
    *out = x;
    return rc;
}

static int cfg_parse_bool(const char *s, int *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    char *t = cfg_trim_dup(s, strlen(s));
    int rc = -1;
    for (int i = 0; i < 4 && rc; i++) {
        if (strcasecmp(t, yes[i]) == 0) *out = 1, rc = 0;
        if (strcasecmp(t, no[i]) == 0) *out = 0, rc = 0;
    }
    free(t);
    return rc;
}

// Comma-separated items, each trimmed; an empty (or blank) text is the empty list.
static void cfg_parse_list(const char *s, CfgValue *v) {
    char *all = cfg_trim_dup(s, strlen(s));
    if (all[0]) {
        int n = 1;
        for (const char *p = all; *p; p++) n += *p == ',';
        v->items = lm_calloc((size_t)n, sizeof(char *));
        const char *p = all;
        for (int i = 0; i < n; i++) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            v->items[i] = cfg_trim_dup(p, len);
            p += len + (comma != NULL);
        }
        v->n_items = n;
    }
    free(all);
}

// Parses text as a value of e's type into v (zeroed on entry); 0, or -1 with msg filled.
static int cfg_parse_text(const CfgEntry *e, const char *text, CfgValue *v, char *msg, size_t len) {
    int rc = 0;
    switch (e->type) {
    case CFG_INT:
        rc = cfg_parse_int(text, &v->i);
        if (rc == -2) return cfg_range_msg(e, text, msg, len);
        if (rc) snprintf(msg, len, "key '%s' expects an integer", e->key);
        return rc;
    case CFG_FLOAT:
        rc = cfg_parse_float(text, &v->f);
        if (rc) snprintf(msg, len, "key '%s' expects a number", e->key);
        return rc;
    case CFG_BOOL:
        rc = cfg_parse_bool(text, &v->b);
        if (rc) snprintf(msg, len, "key '%s' expects a boolean (true/false, yes/no, on/off, 1/0)",
                         e->key);
        return rc;
    case CFG_STRING: v->s = cfg_unquote_dup(text); return 0;
    case CFG_ENUM: {
        char *t = cfg_trim_dup(text, strlen(text));
        v->s = cfg_unquote_dup(t);
        free(t);
        return 0;
    }
    case CFG_LIST: cfg_parse_list(text, v); return 0;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Values from a libconfig setting.

static const char *cfg_setting_kind(int type) {
    switch (type) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: return "a list";
    case CONFIG_TYPE_GROUP: return "a group";
    }
    return "nothing";
}

static const char *cfg_expected_kind(CfgType t) {
    switch (t) {
    case CFG_INT: return "an integer";
    case CFG_FLOAT: return "a number";
    case CFG_BOOL: return "a boolean";
    case CFG_STRING:
    case CFG_ENUM: return "a string";
    case CFG_LIST: return "a list of strings";
    }
    return "?";
}

// A libconfig array or list of strings into v; -1 with msg filled when an item is not a string.
static int cfg_list_from_setting(const CfgEntry *e, const config_setting_t *s, CfgValue *v,
                                 char *msg, size_t len) {
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        int type = config_setting_type(config_setting_get_elem(s, (unsigned)i));
        if (type == CONFIG_TYPE_STRING) continue;
        snprintf(msg, len, "key '%s' expects a list of strings, got a list with %s", e->key,
                 cfg_setting_kind(type));
        return -1;
    }
    v->items = lm_calloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++)
        v->items[i] = lm_strdup(config_setting_get_string_elem(s, (unsigned)i));
    v->n_items = n;
    return 0;
}

// The setting's value as e's type into v (zeroed on entry); 0, or -1 with msg filled.
static int cfg_from_setting(const CfgEntry *e, const config_setting_t *s, CfgValue *v, char *msg,
                            size_t len) {
    int type = config_setting_type(s);
    int is_int = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
    if (e->type == CFG_INT && is_int) v->i = config_setting_get_int64(s);
    else if (e->type == CFG_FLOAT && is_int) v->f = (double)config_setting_get_int64(s);
    else if (e->type == CFG_FLOAT && type == CONFIG_TYPE_FLOAT) v->f = config_setting_get_float(s);
    else if (e->type == CFG_BOOL && type == CONFIG_TYPE_BOOL) v->b = config_setting_get_bool(s);
    else if ((e->type == CFG_STRING || e->type == CFG_ENUM) && type == CONFIG_TYPE_STRING)
        v->s = lm_strdup(config_setting_get_string(s));
    else if (e->type == CFG_LIST && (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST))
        return cfg_list_from_setting(e, s, v, msg, len);
    else {
        snprintf(msg, len, "key '%s' expects %s, got %s", e->key, cfg_expected_kind(e->type),
                 cfg_setting_kind(type));
        return -1;
    }
    return 0;
}

// libconfig 1.5 reads a decimal literal beyond 32 bits written without the L suffix as a
// wrapped 32-bit int (5000000000 becomes 705032704) and says nothing. Finds "name = DIGITS"
// on the setting's line of text; returns 1 (and the literal) when it does not match got.
static int cfg_int_literal_wrapped(const char *text, int line, const char *name, long long got,
                                   long long *literal) {
    const char *p = text;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p) return 0;
    const char *end = strchr(p, '\n');
    size_t n = strlen(name);
    for (const char *q = p; (q = strstr(q, name)) && (!end || q < end); q++) {
        if (q > p && (isalnum((unsigned char)q[-1]) || strchr("_-*", q[-1]))) continue;
        const char *r = q + n;
        r += strspn(r, " \t");
        if (*r != '=' && *r != ':') continue;
        r++;
        r += strspn(r, " \t");
        const char *digits = r + (*r == '-' || *r == '+');
        if (!isdigit((unsigned char)digits[0])) return 0;
        if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) return 0; // hex: left alone
        char *stop;
        *literal = strtoll(r, &stop, 10);
        return *stop != 'L' && *stop != '.' && *stop != 'e' && *stop != 'E' && *literal != got;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Loading: the file's sections, then --set, over the defaults.

static const char *cfg_setting_file(const Config *c, const config_setting_t *s) {
    const char *f = config_setting_source_file(s);
    return f ? f : c->path;
}

// The value of one member of a section: type, 32-bit wrap, range and choices.
static int cfg_member_value(const Config *c, const CfgEntry *e, const config_setting_t *s,
                            CfgValue *v, char *msg, size_t len) {
    if (cfg_from_setting(e, s, v, msg, len)) return -1;
    long long literal;
    const char *file = config_setting_source_file(s);
    int same_file = !file || strcmp(file, c->path) == 0;
    if (config_setting_type(s) == CONFIG_TYPE_INT && same_file &&
        cfg_int_literal_wrapped(c->text, config_setting_source_line(s), config_setting_name(s),
                                config_setting_get_int64(s), &literal)) {
        snprintf(msg, len, "key '%s' = %lld does not fit in 32 bits; libconfig needs %lldL",
                 e->key, literal, literal);
        return -1;
    }
    return cfg_check_value(e, v, msg, len);
}

// One member of a section: checks the key and its value, stores it with its line.
static int cfg_load_member(Config *c, const char *section, const config_setting_t *s, char *err,
                           size_t len) {
    const char *file = cfg_setting_file(c, s);
    int line = config_setting_source_line(s);
    char key[256], msg[CFG_MSG];
    snprintf(key, sizeof key, "%s.%s", section, config_setting_name(s));
    if (config_setting_is_group(s))
        return cfg_fail(err, len, "%s:%d: '%s' is a group inside section '%s'; sections do not nest",
                        file, line, key, section);
    int i = cfg_find(key);
    if (i < 0) {
        cfg_unknown_msg(key, msg, sizeof msg);
        return cfg_fail(err, len, "%s:%d: %s", file, line, msg);
    }
    CfgValue v = {0};
    if (cfg_member_value(c, &cfg_schema[i], s, &v, msg, sizeof msg)) {
        cfg_value_clear(&v);
        return cfg_fail(err, len, "%s:%d: %s", file, line, msg);
    }
    v.line = line;
    cfg_store(c, i, &v);
    return 0;
}

static int cfg_section_known(const char *section) {
    size_t n = strlen(section);
    for (int i = 0; i < cfg_schema_len; i++)
        if (cfg_section_len(cfg_schema[i].key) == n && strncmp(cfg_schema[i].key, section, n) == 0)
            return 1;
    return 0;
}

static int cfg_load_section(Config *c, const config_setting_t *sec, char *err, size_t len) {
    const char *name = config_setting_name(sec);
    const char *file = cfg_setting_file(c, sec);
    int line = config_setting_source_line(sec);
    if (!config_setting_is_group(sec))
        return cfg_fail(err, len, "%s:%d: '%s' is not inside a section", file, line, name);
    int n = config_setting_length(sec);
    if (n == 0 && !cfg_section_known(name))
        return cfg_fail(err, len, "%s:%d: unknown section '%s'", file, line, name);
    for (int i = 0; i < n; i++) {
        int rc = cfg_load_member(c, name, config_setting_get_elem(sec, (unsigned)i), err, len);
        if (rc) return rc;
    }
    return 0;
}

// Parses c->text (the text of c->path) with libconfig and loads every section.
static int cfg_load_file(Config *c, char *err, size_t len) {
    config_t lc;
    config_init(&lc);
    int rc = 0;
    if (!config_read_string(&lc, c->text)) {
        const char *file = config_error_file(&lc) ? config_error_file(&lc) : c->path;
        if (config_error_line(&lc) > 0)
            rc = cfg_fail(err, len, "%s:%d: parse error: %s", file, config_error_line(&lc),
                          config_error_text(&lc));
        else rc = cfg_fail(err, len, "%s: parse error: %s", file, config_error_text(&lc));
    } else {
        config_setting_t *root = config_root_setting(&lc);
        int n = config_setting_length(root);
        for (int i = 0; i < n && !rc; i++)
            rc = cfg_load_section(c, config_setting_get_elem(root, (unsigned)i), err, len);
    }
    config_destroy(&lc);
    return rc;
}

// Does a config text hold at least one setting?
static int cfg_has_settings(const char *text) {
    config_t lc;
    config_init(&lc);
    int n = config_read_string(&lc, text) ? config_setting_length(config_root_setting(&lc)) : 1;
    config_destroy(&lc);
    return n > 0;
}

int config_load(Config *c, const char *path, char *const *sets, int n_sets, char *err,
                size_t err_len) {
    config_defaults(c);
    free(c->path);
    free(c->text);
    c->path = lm_strdup(path);
    c->text = lm_read_file(path, NULL);
    int rc = 0;
    if (!c->text) rc = cfg_fail(err, err_len, "cannot read config '%s': %s", path, strerror(errno));
    if (!rc) rc = cfg_load_file(c, err, err_len);
    if (!rc && !cfg_has_settings(c->text)) // it would train the defaults into runs/lemma
        rc = cfg_fail(err, err_len, "%s: the config is empty (no settings); see configs/ for "
                      "examples, or 'lemma config --reference' for every key", path);
    for (int i = 0; i < n_sets && !rc; i++) rc = config_set(c, sets[i], err, err_len);
    if (rc) config_free(c);
    return rc;
}

int config_load_text(Config *c, const char *name, const char *text, char *const *sets,
                     int n_sets, char *err, size_t err_len) {
    config_defaults(c);
    free(c->path);
    free(c->text);
    c->path = lm_strdup(name);
    c->text = lm_strdup(text);
    int rc = cfg_load_file(c, err, err_len);
    for (int i = 0; i < n_sets && !rc; i++) rc = config_set(c, sets[i], err, err_len);
    if (rc) config_free(c);
    return rc;
}

int config_set(Config *c, const char *assignment, char *err, size_t err_len) {
    LM_CHECK(c->vals, "config_set: the config is not loaded");
    const char *eq = strchr(assignment, '=');
    char *key = eq ? cfg_trim_dup(assignment, (size_t)(eq - assignment)) : NULL;
    if (!key || !key[0]) {
        free(key);
        return cfg_fail(err, err_len, "--set '%s': expected key=value", assignment);
    }
    char msg[CFG_MSG];
    int i = cfg_find(key);
    if (i < 0) cfg_unknown_msg(key, msg, sizeof msg);
    free(key);
    if (i < 0) return cfg_fail(err, err_len, "--set '%s': %s", assignment, msg);
    CfgValue v = {0};
    const CfgEntry *e = &cfg_schema[i];
    if (cfg_parse_text(e, eq + 1, &v, msg, sizeof msg) || cfg_check_value(e, &v, msg, sizeof msg)) {
        cfg_value_clear(&v);
        return cfg_fail(err, err_len, "--set '%s': %s", assignment, msg);
    }
    v.line = -1;
    cfg_store(c, i, &v);
    return 0;
}

// The schema default of entry i; a default that does not parse or validate is a bug.
static CfgValue cfg_default_value(int i) {
    const CfgEntry *e = &cfg_schema[i];
    CfgValue v = {0};
    char msg[CFG_MSG];
    if (cfg_parse_text(e, e->def, &v, msg, sizeof msg) || cfg_check_value(e, &v, msg, sizeof msg))
        lm_fatal("config: bad default '%s' for '%s': %s", e->def, e->key, msg);
    return v;
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    c->path = lm_strdup("<defaults>");
    c->text = lm_strdup("");
    c->vals = lm_calloc((size_t)cfg_schema_len, sizeof(CfgValue));
    for (int i = 0; i < cfg_schema_len; i++) c->vals[i] = cfg_default_value(i);
}

void config_free(Config *c) {
    if (!c) return;
    if (c->vals)
        for (int i = 0; i < cfg_schema_len; i++) cfg_value_clear(&c->vals[i]);
    free(c->vals);
    free(c->path);
    free(c->text);
    memset(c, 0, sizeof *c);
}

// ---------------------------------------------------------------------------
// Accessors

static const CfgValue *cfg_get(const Config *c, const char *key, CfgType type) {
    int i = cfg_find(key);
    int ok = i >= 0 && (cfg_schema[i].type == type ||
                        (type == CFG_STRING && cfg_schema[i].type == CFG_ENUM));
    if (!ok) lm_fatal("config: no key '%s' of type %s", key, cfg_type_name(type));
    if (!c->vals) lm_fatal("config: '%s' read from a config that is not loaded", key);
    return &c->vals[i];
}

int64_t cfg_int(const Config *c, const char *key) { return cfg_get(c, key, CFG_INT)->i; }
double cfg_float(const Config *c, const char *key) { return cfg_get(c, key, CFG_FLOAT)->f; }
int cfg_bool(const Config *c, const char *key) { return cfg_get(c, key, CFG_BOOL)->b; }
const char *cfg_str(const Config *c, const char *key) { return cfg_get(c, key, CFG_STRING)->s; }
int cfg_list_len(const Config *c, const char *key) { return cfg_get(c, key, CFG_LIST)->n_items; }

const char *cfg_list_item(const Config *c, const char *key, int i) {
    const CfgValue *v = cfg_get(c, key, CFG_LIST);
    if (i < 0 || i >= v->n_items) lm_fatal("config: item %d of '%s' (%d items)", i, key, v->n_items);
    return v->items[i];
}

int cfg_list_has(const Config *c, const char *key, const char *item) {
    const CfgValue *v = cfg_get(c, key, CFG_LIST);
    for (int i = 0; i < v->n_items; i++)
        if (strcmp(v->items[i], item) == 0) return 1;
    return 0;
}

// ---------------------------------------------------------------------------
// Dump: libconfig syntax that config_load reads back to the same values.

static void cfg_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch == '\r') fputs("\\r", f);
        else if (ch == '\f') fputs("\\f", f);
        else if (ch < 0x20) fprintf(f, "\\x%02x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void cfg_write_value(FILE *f, const CfgEntry *e, const CfgValue *v) {
    char buf[64];
    switch (e->type) {
    case CFG_INT:
        // libconfig reads a literal beyond 32 bits correctly only with the L suffix
        fprintf(f, (v->i > INT_MAX || v->i < INT_MIN) ? "%lldL" : "%lld", (long long)v->i);
        break;
    case CFG_FLOAT:
        cfg_fmt_float(v->f, buf, sizeof buf);
        fprintf(f, "%s%s", buf, strpbrk(buf, ".eEn") ? "" : ".0"); // a float, not an int
        break;
    case CFG_BOOL: fputs(v->b ? "true" : "false", f); break;
    case CFG_STRING:
    case CFG_ENUM: cfg_write_string(f, v->s); break;
    case CFG_LIST:
        fputs("[ ", f);
        for (int i = 0; i < v->n_items; i++) {
            if (i) fputs(", ", f);
            cfg_write_string(f, v->items[i]);
        }
        fputs(v->n_items ? " ]" : "]", f);
        break;
    }
}

// "  name = value;" for entry i (malloc'd).
static char *cfg_dump_line(const Config *c, int i) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    LM_CHECK(m, "config: open_memstream failed");
    fprintf(m, "  %s = ", cfg_after_dot(cfg_schema[i].key));
    cfg_write_value(m, &cfg_schema[i], &c->vals[i]);
    fputc(';', m);
    fclose(m);
    return buf;
}

// The group of the section of entry first, with every key of that section (wherever the
// schema lists it) and help comments lined up.
static void cfg_dump_section(const Config *c, int first, FILE *f) {
    const char *key = cfg_schema[first].key;
    int width = 0;
    for (int i = first; i < cfg_schema_len; i++) {
        if (!cfg_same_section(key, cfg_schema[i].key)) continue;
        char *line = cfg_dump_line(c, i);
        int n = (int)strlen(line);
        if (n > width && n <= CFG_DUMP_ALIGN) width = n;
        free(line);
    }
    fprintf(f, "\n%.*s = {\n", (int)cfg_section_len(key), key);
    for (int i = first; i < cfg_schema_len; i++) {
        if (!cfg_same_section(key, cfg_schema[i].key)) continue;
        char *line = cfg_dump_line(c, i);
        fprintf(f, "%-*s  # %s\n", width, line, cfg_schema[i].help);
        free(line);
    }
    fputs("};\n", f);
}

// Is entry i the first of its section in the schema?
static int cfg_section_first(int i) {
    for (int j = 0; j < i; j++)
        if (cfg_same_section(cfg_schema[j].key, cfg_schema[i].key)) return 0;
    return 1;
}

void config_dump(const Config *c, FILE *f) {
    fprintf(f, "# lemma %s: the effective configuration, every key (libconfig syntax)\n",
            LEMMA_VERSION);
    for (int i = 0; i < cfg_schema_len; i++)
        if (cfg_section_first(i)) cfg_dump_section(c, i, f);
}

char *config_dump_text(const Config *c) {
    char *text = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&text, &n);
    LM_CHECK(m, "config: open_memstream failed");
    config_dump(c, m);
    LM_CHECK(fclose(m) == 0, "config: open_memstream failed");
    return text;
}

// ---------------------------------------------------------------------------
// Reference: the schema as a Markdown table.

// Text with '|' escaped for a Markdown table cell.
static void cfg_write_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

// "`a`, `b`, `c`" from "a|b|c".
static void cfg_write_choices(FILE *f, const char *choices) {
    fputc('`', f);
    for (const char *p = choices; *p; p++) {
        if (*p == '|') fputs("`, `", f);
        else fputc(*p, f);
    }
    fputc('`', f);
}

static void cfg_write_range(FILE *f, const CfgEntry *e) {
    char lo[64], hi[64];
    if (e->type == CFG_INT || e->type == CFG_FLOAT) {
        cfg_fmt_bound(e, e->min, lo, sizeof lo);
        cfg_fmt_bound(e, e->max, hi, sizeof hi);
        fprintf(f, "[%s, %s]", lo, hi);
    } else if (e->choices) {
        fputs(e->type == CFG_ENUM ? "one of " : "items from ", f);
        cfg_write_choices(f, e->choices);
    }
}

void config_reference(FILE *f) {
    fputs("| key | type | default | range / choices | description |\n", f);
    fputs("|---|---|---|---|---|\n", f);
    for (int i = 0; i < cfg_schema_len; i++) {
        const CfgEntry *e = &cfg_schema[i];
        fprintf(f, "| `%s` | %s | ", e->key, cfg_type_name(e->type));
        if (e->def[0]) fputc('`', f), cfg_write_cell(f, e->def), fputc('`', f);
        else fputs(e->type == CFG_LIST ? "(empty)" : "`\"\"`", f);
        fputs(" | ", f);
        cfg_write_range(f, e);
        fputs(" | ", f);
        cfg_write_cell(f, e->help);
        fputs(" |\n", f);
    }
}

// ---------------------------------------------------------------------------
// Suggestions for unknown keys.

// Edit distance between a (any length) and b (a schema key, short).
static int cfg_levenshtein(const char *a, const char *b) {
    int prev[128], cur[128];
    int nb = (int)strlen(b);
    LM_CHECK(nb < 128, "config: schema key '%s' is too long", b);
    for (int j = 0; j <= nb; j++) prev[j] = j;
    for (int i = 0; a[i]; i++) {
        cur[0] = i + 1;
        for (int j = 0; j < nb; j++) {
            int sub = prev[j] + (a[i] != b[j]);
            int del = prev[j + 1] + 1, ins = cur[j] + 1;
            cur[j + 1] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(nb + 1));
    }
    return prev[nb];
}

const char *config_suggest(const char *key) {
    int best = -1, best_d = INT_MAX;
    for (int i = 0; i < cfg_schema_len; i++) {
        int d = cfg_levenshtein(key, cfg_schema[i].key);
        // the right name in the wrong section counts as a one-letter typo
        if (d > 1 && strcmp(cfg_after_dot(key), cfg_after_dot(cfg_schema[i].key)) == 0) d = 1;
        if (d < best_d) best = i, best_d = d;
    }
    int limit = (int)strlen(key) / 3;
    if (limit < 2) limit = 2;
    return best >= 0 && best_d <= limit ? cfg_schema[best].key : NULL;
}
