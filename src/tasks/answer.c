// tasks/answer: grading. Finds the final answer in a completion ("The answer is", \boxed{},
// "####", the last number, in that order) and decides whether two answers are the same:
// numbers (LaTeX, currency, '%' and unit words stripped) within relative 1e-4, anything
// else as normalized strings. The policy is spelled out in docs/tasks.md.
#include "lemma/tasks.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GRADE_REL_TOL 1e-4

static char *dup_n(const char *s, size_t n) {
    char *d = lm_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

// A copy of s[0..n) without surrounding blanks and trailing sentence periods.
static char *dup_trim(const char *s, size_t n) {
    while (n > 0 && is_space(*s)) s++, n--;
    while (n > 0 && (is_space(s[n - 1]) || s[n - 1] == '.')) n--;
    return dup_n(s, n);
}

// End of the line that starts at p.
static const char *line_end(const char *p) {
    const char *e = strchr(p, '\n');
    return e ? e : p + strlen(p);
}

// Last occurrence of needle in s (case-insensitive when nocase), or NULL.
static const char *find_last(const char *s, const char *needle, int nocase) {
    const char *last = NULL;
    for (const char *p = s; (p = nocase ? strcasestr(p, needle) : strstr(p, needle)); p++) last = p;
    return last;
}

// ---------------------------------------------------------------------------
// Extraction

// "The answer is: X" / "The answer is X": the rest of the line.
static char *extract_answer_is(const char *text) {
    const char *p = find_last(text, "the answer is", 1);
    if (!p) return NULL;
    p += strlen("the answer is");
    while (*p == ' ' || *p == '\t') p++;
    if (*p == ':') p++;
    char *x = dup_trim(p, (size_t)(line_end(p) - p));
    if (x[0]) return x;
    free(x);
    return NULL;
}

// The position just past the '}' that closes the '{' before s, or NULL.
static const char *match_brace(const char *s) {
    int depth = 1;
    for (; *s; s++) {
        if (*s == '{') depth++;
        else if (*s == '}' && --depth == 0) return s + 1;
    }
    return NULL;
}

char *grade_last_boxed(const char *text) {
    const char *a = find_last(text, "\\boxed{", 0), *b = find_last(text, "\\fbox{", 0);
    const char *p = a && (!b || a > b) ? a + 7 : b ? b + 6 : NULL;
    if (!p) return NULL;
    const char *end = match_brace(p);
    return end ? dup_trim(p, (size_t)(end - 1 - p)) : NULL;
}

char *grade_after_hashes(const char *text) {
    const char *p = find_last(text, "####", 0);
    if (!p) return NULL;
    p += 4;
    char *x = dup_trim(p, (size_t)(line_end(p) - p));
    if (x[0]) return x;
    free(x);
    return NULL;
}

// Span of the number starting at s[i] ("-1,234.5", "3/4"): its end, and its start with a
// sign that stands alone before it.
static size_t number_span(const char *s, size_t i, size_t n, size_t *start) {
    TasksNum v;
    size_t len = tasks_num_scan(s + i, n - i, &v, NULL);
    if (len == 0) return 0;
    size_t end = i + len;
    if (end + 1 < n && s[end] == '/' && is_digit(s[end + 1]))
        end += 1 + tasks_num_scan(s + end + 1, n - end - 1, &v, NULL);
    *start = i;
    if (i > 0 && s[i - 1] == '-' && (i == 1 || !isalnum((unsigned char)s[i - 2]))) *start = i - 1;
    return end;
}

static char *extract_last_number(const char *text) {
    size_t n = strlen(text), best_s = 0, best_e = 0;
    for (size_t i = 0; i < n;) {
        int starts = is_digit(text[i]) || (text[i] == '.' && i + 1 < n && is_digit(text[i + 1]));
        size_t s, e = starts ? number_span(text, i, n, &s) : 0;
        if (e > i) best_s = s, best_e = e, i = e;
        else i++;
    }
    return best_e > 0 ? dup_n(text + best_s, best_e - best_s) : NULL;
}

char *grade_extract_answer(const char *text, GradeSource *src) {
    char *x = NULL;
    GradeSource s = GRADE_NONE;
    if (text) {
        if ((x = extract_answer_is(text))) s = GRADE_ANSWER_IS;
        else if ((x = grade_last_boxed(text))) s = GRADE_BOXED;
        else if ((x = grade_after_hashes(text))) s = GRADE_HASHES;
        else if ((x = extract_last_number(text))) s = GRADE_LAST_NUMBER;
    }
    if (src) *src = s;
    return x;
}

// ---------------------------------------------------------------------------
// Cleaning: the text of an answer without LaTeX wrappers, spacing, currency and degrees.

static const char *const clean_from[] = {
    "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\ ", "\\%", "\\$", "$", "^{\\circ}",
    "^\\circ", "\\circ", "\xc2\xb0", "\xe2\x88\x92", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5",
    "\xe2\x82\xb9", "\\dfrac", "\\tfrac", "\\displaystyle",
};
static const char *const clean_to[] = {
    "", "", "", "", "", "", " ", "%", "", "", "", "", "", "", "-", "", "", "", "", "\\frac",
    "\\frac", "",
};
static const char *const unwrap_cmds[] = {"\\boxed{", "\\fbox{", "\\text{", "\\textbf{",
                                          "\\textrm{", "\\mathrm{", "\\mbox{"};

// Replaces the clean_from patterns in place (every replacement is no longer than its pattern).
static void clean_replace(char *s) {
    const int n_pat = (int)(sizeof clean_from / sizeof clean_from[0]);
    char *w = s;
    for (const char *r = s; *r;) {
        int hit = 0;
        for (int k = 0; k < n_pat && !hit; k++) {
            size_t len = strlen(clean_from[k]);
            if (strncmp(r, clean_from[k], len) != 0) continue;
            size_t out = strlen(clean_to[k]);
            memmove(w, clean_to[k], out);
            w += out, r += len, hit = 1;
        }
        if (!hit) *w++ = *r++;
    }
    *w = 0;
}

// Removes "\text{" and its closing brace (and the other wrappers); 1 when it removed one.
static int clean_unwrap_one(char *s) {
    for (size_t k = 0; k < sizeof unwrap_cmds / sizeof unwrap_cmds[0]; k++) {
        char *p = strstr(s, unwrap_cmds[k]);
        if (!p) continue;
        size_t len = strlen(unwrap_cmds[k]);
        char *close = (char *)match_brace(p + len);
        if (close) memmove(close - 1, close, strlen(close) + 1);
        memmove(p, p + len, strlen(p + len) + 1);
        return 1;
    }
    return 0;
}

// Removes GSM8K calculator annotations "<<48/2=24>>" in place.
static void clean_annotations(char *s) {
    char *p, *q;
    while ((p = strstr(s, "<<")) && (q = strstr(p + 2, ">>"))) memmove(p, q + 2, strlen(q + 2) + 1);
}

static char *grade_clean(const char *answer) {
    char *s = lm_strdup(answer);
    clean_annotations(s);
    clean_replace(s);
    while (clean_unwrap_one(s)) {}
    char *t = dup_trim(s, strlen(s));
    free(s);
    return t;
}

// ---------------------------------------------------------------------------
// Numbers

// s[0..n) as exactly one optionally signed decimal, blanks around allowed.
static int parse_simple(const char *s, size_t n, TasksNum *out) {
    while (n > 0 && is_space(*s)) s++, n--;
    while (n > 0 && is_space(s[n - 1])) n--;
    int neg = n > 0 && *s == '-';
    if (n > 0 && (*s == '-' || *s == '+')) s++, n--;
    if (n == 0 || tasks_num_scan(s, n, out, NULL) != n) return 0;
    if (neg) tasks_num_apply('-', tasks_num_int(0), *out, out);
    return 1;
}

// A brace group "{...}" at s holding a simple number; the bytes used or 0.
static size_t parse_group(const char *s, TasksNum *out) {
    if (*s != '{') return 0;
    const char *end = match_brace(s + 1);
    if (!end || !parse_simple(s + 1, (size_t)(end - 1 - (s + 1)), out)) return 0;
    return (size_t)(end - s);
}

// "\frac{a}{b}" or "\frac34" at s; the bytes used or 0.
static size_t parse_frac(const char *s, TasksNum *out) {
    if (strncmp(s, "\\frac", 5) != 0) return 0;
    const char *p = s + 5;
    TasksNum a, b;
    if (is_digit(p[0]) && is_digit(p[1])) {
        a = tasks_num_int(p[0] - '0'), b = tasks_num_int(p[1] - '0'), p += 2;
    } else {
        size_t la = parse_group(p, &a), lb = la ? parse_group(p + la, &b) : 0;
        if (!lb) return 0;
        p += la + lb;
    }
    if (tasks_num_apply('/', a, b, out)) return 0;
    return (size_t)(p - s);
}

// A signed number at s: \frac, or a decimal with an optional "/ denominator"; the bytes used.
static size_t parse_number_prefix(const char *s, TasksNum *out) {
    const char *p = s;
    int neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    while (*p == ' ') p++;
    size_t len = parse_frac(p, out);
    if (!len) {
        len = tasks_num_scan(p, strlen(p), out, NULL);
        if (!len) return 0;
        const char *q = p + len;
        while (*q == ' ') q++;
        TasksNum den;
        if (*q == '/') {
            q++;
            while (*q == ' ') q++;
            size_t ld = tasks_num_scan(q, strlen(q), &den, NULL);
            if (ld && tasks_num_apply('/', *out, den, out) == 0) len = (size_t)(q + ld - p);
        }
    }
    p += len;
    if (neg) tasks_num_apply('-', tasks_num_int(0), *out, out);
    return (size_t)(p - s);
}

// Unit words after a number: letters (any script), blanks, '.', '/', '\'', '%'.
static int is_unit_text(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(isalpha(c) || c >= 0x80 || is_space(*s) || strchr("./'%", c))) return 0;
    }
    return 1;
}

int grade_parse_number(const char *answer, TasksNum *out) {
    char *s = grade_clean(answer);
    size_t len = parse_number_prefix(s, out);
    int ok = len > 0 && is_unit_text(s + len);
    free(s);
    return ok;
}

// Text around a lone number in a prediction: words and punctuation, no digits or operators.
static int is_plain_text(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalpha(c) || c >= 0x80 || is_space(s[i]) || strchr(".,:;='\"!?()%", c))) return 0;
    }
    return 1;
}

// The one number in a prediction written with words around it ("Bob has 36 marbles").
static int grade_only_number(const char *answer, TasksNum *out) {
    char *s = grade_clean(answer);
    size_t n = strlen(s), i = 0;
    const char *frac = strstr(s, "\\frac");
    while (i < n && !is_digit(s[i]) && !(s[i] == '.' && is_digit(s[i + 1]))) i++;
    if (frac && (size_t)(frac - s) < i) i = (size_t)(frac - s);
    if (i > 0 && s[i - 1] == '-') i--;
    size_t len = i < n ? parse_number_prefix(s + i, out) : 0;
    int ok = len > 0 && is_plain_text(s, i) && is_plain_text(s + i + len, n - i - len);
    free(s);
    return ok;
}

char *grade_normalize(const char *answer) {
    char *s = grade_clean(answer), *w = s;
    for (const char *r = s; *r; r++)
        if (!is_space(*r)) *w++ = (char)tolower((unsigned char)*r);
    *w = 0;
    return s;
}

int grade_equal(const char *pred, const char *gold) {
    if (!pred || !gold) return 0;
    TasksNum a, b;
    if (grade_parse_number(gold, &b))
        return (grade_parse_number(pred, &a) || grade_only_number(pred, &a)) &&
               tasks_num_close(a, b, GRADE_REL_TOL);
    char *x = grade_normalize(pred), *y = grade_normalize(gold);
    int eq = x[0] && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}
