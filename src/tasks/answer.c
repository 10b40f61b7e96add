// tasks/answer: grading. Finds the final answer in a completion (\boxed{}, "The answer is",
// "####", "# Answer", the last number of plain text, in that order) and decides whether two
// answers are the same through the expression engine (expr.h), with normalized strings for
// what it does not read. The policy is spelled out in docs/grading.md.
#include "lemma/tasks.h"
#include "lemma/expr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


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

// Math delimiters around an answer ($..$, \(..\), \[..\]) and a sentence's end, removed in
// place.
static void strip_delimiters(char *x) {
    static const char *const open[] = {"$", "\\(", "\\["}, *const close[] = {"$", "\\)", "\\]"};
    for (int again = 1; again;) {
        again = 0;
        size_t n = strlen(x);
        while (n > 0 && (is_space(x[n - 1]) || strchr(".,;!", x[n - 1]))) x[--n] = 0;
        for (int k = 0; k < 3; k++) {
            size_t lo = strlen(open[k]), lc = strlen(close[k]);
            if (n >= lo + lc && !strncmp(x, open[k], lo) && !strcmp(x + n - lc, close[k])) {
                memmove(x, x + lo, n - lo - lc), x[n - lo - lc] = 0, again = 1;
                break;
            }
        }
        char *t = dup_trim(x, strlen(x));
        strcpy(x, t);
        free(t);
    }
}

static const char *const answer_phrases[] = {"the answer is", "final answer is", "final answer:",
                                             "answer:"};

// Just past the last answer phrase, or NULL.
static const char *answer_phrase_at(const char *text) {
    const char *best = NULL;
    for (int k = 0; k < 4; k++) {
        const char *p = find_last(text, answer_phrases[k], 1);
        if (p && (!best || p + strlen(answer_phrases[k]) > best)) best = p + strlen(answer_phrases[k]);
    }
    return best;
}

// The rest of the line after the last answer phrase ("The answer is", "final answer is",
// "Final Answer:", "Answer:"), delimiters stripped.
static char *extract_answer_is(const char *text) {
    const char *p = answer_phrase_at(text);
    if (!p) return NULL;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == ':') p++;
    const char *end = line_end(p);
    static const char *const open[] = {"$", "\\(", "\\["}, *const close[] = {"$", "\\)", "\\]"};
    for (int k = 0; k < 3; k++) { // "$-\sqrt{3}$. I hope it is correct.": the math only
        size_t lo = strlen(open[k]);
        const char *c = strncmp(p, open[k], lo) ? NULL : strstr(p + lo, close[k]);
        while (c && k == 0 && c[-1] == '\\') c = strstr(c + 1, close[k]); // "\$18" is no end
        if (c && c < end) {
            p += lo, end = c;
            break;
        }
    }
    char *x = dup_trim(p, (size_t)(end - p));
    strip_delimiters(x);
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

// "# Answer" on a line of its own (the MATH / PRM800K format): the next non-blank line.
static char *extract_answer_section(const char *text) {
    const char *p = find_last(text, "# Answer", 0);
    if (!p || (p > text && p[-1] != '\n')) return NULL;
    p = line_end(p);
    while (*p == '\n' || is_space(*p)) p++;
    if (!*p) return NULL;
    char *x = dup_trim(p, (size_t)(line_end(p) - p));
    strip_delimiters(x);
    if (x[0]) return x;
    free(x);
    return NULL;
}

// A plain number word: sign, '$', digits with ',' groups, a decimal point, "/ digits", '%'.
static int plain_number_word(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '$') i++;
    for (; i < n; i++) {
        if (is_digit(s[i])) digits++;
        else if (!strchr(",./%", s[i])) return 0;
    }
    return digits > 0;
}

int tasks_is_latex(const char *text) {
    for (const char *p = strchr(text, '\\'); p; p = strchr(p + 1, '\\'))
        if (isalpha((unsigned char)p[1]) || p[1] == '(' || p[1] == '[') return 1;
    const char *d = strstr(text, "<<") ? NULL : strchr(text, '$'); // GSM8K: currency
    for (const char *p = d ? strchr(d + 1, '$') : NULL; p; p = strchr(p + 1, '$'))
        if (!is_digit(p[1]) && !(p[1] == '.' && is_digit(p[2])) && p[1] != '$') return 1;
    return 0;
}

// The last number of a plain-text solution, when it stands alone as a word ("... is 42.",
// "costs $1,250"): not in LaTeX text (tasks_is_latex), not inside a tuple.
static char *extract_last_number(const char *text) {
    if (tasks_is_latex(text)) return NULL;
    const char *w = NULL, *w_end = NULL;
    for (const char *p = text; *p;) {
        while (*p && is_space(*p)) p++;
        const char *q = p;
        while (*q && !is_space(*q)) q++;
        for (const char *c = p; c < q; c++)
            if (is_digit(*c)) {
                w = p, w_end = q;
                break;
            }
        p = q;
    }
    if (!w) return NULL;
    while (w_end > w && strchr(".,;:!?", w_end[-1])) w_end--;
    if (!plain_number_word(w, (size_t)(w_end - w))) return NULL;
    if (*w == '$') w++;
    else if (*w == '-' && w[1] == '$') { // "-$5": keep the sign
        char *x = dup_n(w, (size_t)(w_end - w));
        memmove(x + 1, x + 2, strlen(x + 2) + 1);
        return x;
    }
    return dup_n(w, (size_t)(w_end - w));
}

char *grade_extract_answer(const char *text, GradeSource *src) {
    char *x = NULL;
    GradeSource s = GRADE_NONE;
    if (text && (x = grade_last_boxed(text)) && !x[0]) free(x), x = NULL; // "\boxed{}"
    if (x) s = GRADE_BOXED;
    if (text && !x) { // of a phrase, "####" and "# Answer", the one stated last
        char *c[3] = {extract_answer_is(text), grade_after_hashes(text), extract_answer_section(text)};
        const char *at[3] = {c[0] ? answer_phrase_at(text) : NULL, c[1] ? find_last(text, "####", 0) : NULL,
                             c[2] ? find_last(text, "# Answer", 0) : NULL};
        int best = -1;
        for (int k = 0; k < 3; k++)
            if (at[k] && (best < 0 || at[k] > at[best])) best = k;
        for (int k = 0; k < 3; k++)
            if (k != best) free(c[k]);
        if (best >= 0) x = c[best], s = best == 0 ? GRADE_ANSWER_IS : best == 1 ? GRADE_HASHES : GRADE_ANSWER_SECTION;
    }
    if (text && !x && (x = extract_last_number(text))) s = GRADE_LAST_NUMBER;
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
    // units after a blank ("12 km/h", "5 m"; "5x" is no number)
    int ok = len > 0 && (!s[len] || is_space(s[len]) || s[len] == '%') && is_unit_text(s + len);
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

// Two numbers: exactly when both are exact rationals, else within relative 1e-6.
static int nums_same(TasksNum a, TasksNum b) {
    if (a.exact && b.exact) return a.p == b.p && a.q == b.q;
    return tasks_num_close(a, b, 1e-6);
}

int grade_equal(const char *pred, const char *gold) {
    if (!pred || !gold) return 0;
    Expr *p = expr_parse(pred, NULL, 0), *g = expr_parse(gold, NULL, 0);
    int eq = p && g && expr_equal(p, g);
    TasksNum a, b;
    if (!eq && (!p || expr_has_vars(p)) && grade_parse_number(gold, &b) &&
        (grade_parse_number(pred, &a) || grade_only_number(pred, &a)))
        eq = nums_same(a, b); // "12 km/h", "Bob has 36 marbles"
    if (!eq && (!p || !g)) {
        char *x = grade_normalize(pred), *y = grade_normalize(gold);
        eq = x[0] && strcmp(x, y) == 0;
        free(x), free(y);
    }
    expr_free(p), expr_free(g);
    return eq;
}
