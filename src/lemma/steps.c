// lemma/steps: reading solutions for the symbolic teacher. Numbers (comparison, the way
// solutions print them), the operands and operators of an expression, the numbers a
// question states, and a solution split into the step verifier's steps with their byte
// spans (truncation cuts there).
#include "lemma/lemma.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lemma_num_eq(long double a, long double b) {
    long double d = fabsl(a - b), m = fmaxl(fabsl(a), fabsl(b));
    return d <= 1e-9L * m || d < 1e-12L;
}

void lemma_num_format(long double v, char *buf, size_t cap) {
    long double r = roundl(v);
    if (fabsl(v - r) < 1e-9L && fabsl(r) < 9e18L) {
        snprintf(buf, cap, "%lld", (long long)r);
        return;
    }
    snprintf(buf, cap, "%.4Lf", v);
    char *e = buf + strlen(buf);
    while (e > buf && e[-1] == '0') *--e = 0;
    if (e > buf && e[-1] == '.') e[-1] = 0;
}

int lemma_digits_reordered(long double a, long double b) {
    char x[48], y[48];
    lemma_num_format(a, x, sizeof x);
    lemma_num_format(b, y, sizeof y);
    size_t n = strlen(x);
    if (n < 2 || n != strlen(y) || strcmp(x, y) == 0) return 0;
    int count[256] = {0};
    for (size_t i = 0; i < n; i++) count[(unsigned char)x[i]]++, count[(unsigned char)y[i]]--;
    for (int i = 0; i < 256; i++)
        if (count[i]) return 0;
    return 1;
}

// ---------------------------------------------------------------------------
// Expressions

// An operator spelled at s: its symbol and length, or 0.
static int expr_op(const char *s, char *op) {
    static const struct { const char *text; char op; } ops[] = {
        {"**", '^'}, {"//", 'f'}, {"+", '+'}, {"-", '-'}, {"*", '*'}, {"/", '/'}, {"^", '^'},
        {"x", '*'}, {"X", '*'}, {"\xc3\x97", '*'}, {"\xc3\xb7", '/'}, {"\xe2\x88\x92", '-'},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t len = strlen(ops[k].text);
        if (strncmp(s, ops[k].text, len) == 0) return *op = ops[k].op, (int)len;
    }
    return 0;
}

int lemma_parse_expr(const char *expr, LemmaComp *c, LemmaExprSpans *sp) {
    memset(c, 0, sizeof *c);
    snprintf(c->text, sizeof c->text, "%s", expr);
    int want_num = 1, neg = 0;
    size_t n = strlen(expr);
    for (size_t i = 0; i < n;) {
        char op;
        int len;
        if (isspace((unsigned char)expr[i]) || expr[i] == '$' || expr[i] == '(' || expr[i] == ')') {
            i++;
            continue;
        }
        if (want_num && (expr[i] == '-' || expr[i] == '+')) { // a sign
            neg ^= expr[i] == '-', i++;
            continue;
        }
        if (want_num) {
            TasksNum num;
            int dec;
            size_t used = tasks_num_scan(expr + i, n - i, &num, &dec);
            if (used == 0 || c->n == LEMMA_MAX_ARGS) return -1;
            if (sp) sp->num_start[c->n] = (int)i, sp->num_end[c->n] = (int)(i + used);
            c->v[c->n++] = neg ? -num.v : num.v;
            i += used, want_num = 0, neg = 0;
        } else if ((len = expr_op(expr + i, &op)) > 0) {
            if (sp) sp->op_start[c->n - 1] = (int)i, sp->op_len[c->n - 1] = len;
            c->ops[c->n - 1] = op;
            i += (size_t)len, want_num = 1;
        } else {
            return -1;
        }
    }
    return c->n > 0 && !want_num ? 0 : -1;
}

int lemma_eval_expr(const char *expr, long double *out) {
    size_t n = strlen(expr) + 8;
    char *text = lm_malloc(n);
    snprintf(text, n, "<<%s=0>>", expr);
    VerifyCheck *chk;
    int k = verify_text(text, &chk, NULL), rc = -1;
    if (k == 1) *out = chk[0].value.v, rc = 0;
    verify_checks_free(chk, k);
    free(text);
    return rc;
}

int lemma_comp_from_check(const VerifyCheck *chk, LemmaComp *c) {
    int rc = lemma_parse_expr(chk->expr, c, NULL);
    c->value = chk->value.v, c->stated = chk->stated_val.v, c->ok = chk->ok;
    return rc;
}

// ---------------------------------------------------------------------------
// Numbers a question states

static const struct { const char *word; int value; } number_words[] = {
    {"one", 1}, {"two", 2}, {"three", 3}, {"four", 4}, {"five", 5}, {"six", 6}, {"seven", 7},
    {"eight", 8}, {"nine", 9}, {"ten", 10}, {"eleven", 11}, {"twelve", 12}, {"twice", 2},
    {"double", 2}, {"triple", 3}, {"half", 2}, {"third", 3}, {"quarter", 4}, {"fifth", 5},
    {"dozen", 12}, {"hundred", 100},
};

static int stated_push(long double *out, int n, int cap, long double v) {
    for (int i = 0; i < n; i++)
        if (lemma_num_eq(out[i], v)) return n;
    if (n < cap) out[n++] = v;
    return n;
}

int lemma_stated_numbers(const char *question, long double *out, int cap) {
    int n = 0;
    size_t len = strlen(question);
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)question[i];
        if (isdigit(ch) && (i == 0 || !strchr(".,", question[i - 1]))) {
            TasksNum num;
            int dec;
            size_t used = tasks_num_scan(question + i, len - i, &num, &dec);
            n = stated_push(out, n, cap, num.v);
            i += used ? used : 1;
        } else if (isalpha(ch) && (i == 0 || !isalpha((unsigned char)question[i - 1]))) {
            size_t j = i;
            while (j < len && isalpha((unsigned char)question[j])) j++;
            for (size_t k = 0; k < sizeof number_words / sizeof number_words[0]; k++)
                if (strlen(number_words[k].word) == j - i && strncasecmp(question + i, number_words[k].word, j - i) == 0)
                    n = stated_push(out, n, cap, number_words[k].value);
            i = j;
        } else {
            i++;
        }
    }
    return n;
}

// ---------------------------------------------------------------------------
// Steps

void lemma_steps_split(const char *text, LemmaSteps *s) {
    memset(s, 0, sizeof *s);
    s->flags = (strstr(text, "<<") || strstr(text, "####")) ? VERIFY_SENTENCES : 0;
    verify_solution(text, s->flags, &s->vr);
    int n = s->vr.n_steps;
    s->start = lm_calloc((size_t)n + 1, sizeof(size_t));
    s->end = lm_calloc((size_t)n + 1, sizeof(size_t));
    s->answer_step = -1;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        const char *t = s->vr.steps[i].text, *f = strstr(text + at, t);
        s->start[i] = f ? (size_t)(f - text) : at;
        s->end[i] = f ? s->start[i] + strlen(t) : at;
        at = s->end[i];
        if (strcasestr(t, "answer is")) s->answer_step = i;
    }
}

void lemma_steps_free(LemmaSteps *s) {
    verify_result_free(&s->vr);
    free(s->start);
    free(s->end);
    memset(s, 0, sizeof *s);
}
