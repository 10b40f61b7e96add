// expr/lex: the tokens of an answer written in LaTeX or plain math. Math delimiters ($, \(,
// \[), sizing and spacing commands, degree signs and currency are skipped; \text{...} and
// similar groups are transparent (their letters are words); numbers are read whole
// (thousands separators "1,234" outside brackets, "40{,}000", "10\,000", a decimal point,
// scientific notation "1.2e3", a base subscript "4210_5"); operator commands and Unicode
// signs become operators. What the engine does not read is a T_BAD token.
#include "expr_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static Tok tok_op(const char *op) {
    Tok t = {.kind = T_OP};
    snprintf(t.text, sizeof t.text, "%s", op);
    return t;
}

static Tok tok_kind(TokKind k, const char *s, size_t n) {
    Tok t = {.kind = k};
    if (n >= sizeof t.text) n = sizeof t.text - 1;
    memcpy(t.text, s, n);
    t.text[n] = 0;
    return t;
}

static int in_list(const char *s, size_t n, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && strncmp(s, list[i], n) == 0) return 1;
    return 0;
}

static const char *const skip_cmds[] = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl",
                                        "bigr", "Bigl", "Bigr", "biggl", "biggr", "displaystyle",
                                        "textstyle", "quad", "qquad", "limits", "circ", "degree",
                                        "dollar", "mathstrut", "phantom", "hfill", NULL};
static const char *const text_cmds[] = {"text", "textbf", "textit", "textrm", "textnormal",
                                        "mathrm", "mbox", "mathbf", "textsf", "mathit",
                                        "operatorname", "hbox", NULL};
static const char *const plain_groups[] = {"boxed", "fbox", "mathbf", "bm", "boldsymbol", NULL};
static const char *const greek[] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon",
    "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma",
    "Phi", "Psi", "Omega", NULL};
static const char *const funcs[] = {"sqrt", "frac", "binom", "sin", "cos", "tan", "cot", "sec",
                                    "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                                    "log", "ln", "exp", "lg", "pi", "infty", "pm", "mp", "cup",
                                    "emptyset", "begin", "end", NULL};
static const char *const plain_funcs[] = {"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "pi",
                                          NULL};
static const char *const units[] = {"cm", "mm", "km", "ft", "in", "kg", "mg", "lb", "lbs", "oz",
                                    "hr", "hrs", "mi", "mph", "yd", "ml", "sq", "th", "st", "nd",
                                    "rd", "am", "pm", "cents", NULL};

static const struct {
    const char *cmd, *op;
} cmd_ops[] = {{"cdot", "*"}, {"times", "*"}, {"ast", "*"}, {"div", "/"}, {"le", "<="},
               {"leq", "<="}, {"leqslant", "<="}, {"ge", ">="}, {"geq", ">="},
               {"geqslant", ">="}, {"ne", "!="}, {"neq", "!="}, {"lt", "<"}, {"gt", ">"},
               {"in", "="}, {"lbrace", "\\{"}, {"rbrace", "\\}"}, {"langle", "("},
               {"rangle", ")"}, {"colon", ":"}, {"%", "%"}, {"{", "\\{"}, {"}", "\\}"},
               {"\\", "\\\\"}, {"vert", "|"}, {"mid", "|"}, {"lvert", "|"}, {"rvert", "|"}};

// Unicode signs (UTF-8) and what they are; "" skips them.
static const struct {
    const char *utf8, *op;
} uni[] = {{"\xc2\xb0", ""},          {"\xe2\x88\x92", "-"},      {"\xc3\x97", "*"},
           {"\xc3\xb7", "/"},         {"\xe2\x89\xa4", "<="},     {"\xe2\x89\xa5", ">="},
           {"\xe2\x89\xa0", "!="},    {"\xe2\x82\xac", ""},       {"\xc2\xa3", ""},
           {"\xc2\xa5", ""},          {"\xe2\x82\xb9", ""},       {"\xc2\xa0", ""},
           {"\xe2\x80\x89", ""},      {"\xe2\x8b\x85", "*"},      {"\xc2\xb7", "*"}};

// A digit run with separators at L->p: appends the digits to buf; the bytes used.
static size_t lex_digits(Lexer *L, char *buf, size_t *n, size_t cap) {
    const char *p = L->p;
    int group = 0, first = 1;
    for (;;) {
        while (is_digit(*p)) {
            if (*n + 1 < cap) buf[(*n)++] = *p;
            p++, group++;
        }
        // Separators: "{,}", "\,", ",\!" and (outside brackets, after 1-3 digits, then 3) ","
        size_t sep = strncmp(p, "{,}", 3) == 0 ? 3 : strncmp(p, "\\,", 2) == 0 ? 2
                     : strncmp(p, ",\\!", 3) == 0 ? 3
                     : (*p == ',' && L->depth == 0 && (!first || group <= 3)) ? 1 : 0;
        if (!sep || group == 0 || (first && group > 3)) break;
        const char *q = p + sep;
        if (sep == 3 && p[0] == ',')
            while (*q == ' ') q++;
        if (!(is_digit(q[0]) && is_digit(q[1]) && is_digit(q[2]) && !is_digit(q[3]))) break;
        p = q, group = 0, first = 0;
    }
    size_t used = (size_t)(p - L->p);
    L->p = p;
    return used;
}

// digits (n of them) with `dec` after the point, times 10^e10, into t.
static void num_value(Tok *t, const char *digits, size_t n, int dec, int e10) {
    char tmp[80];
    size_t k = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
    memcpy(tmp, digits, k);
    tmp[k] = 0;
    t->value = strtod(tmp, NULL) * pow(10.0, (double)(e10 - dec));
    int sig = 0;
    while (sig < (int)n && digits[sig] == '0') sig++;
    t->exact = (int)n - sig <= 18 && abs(e10 - dec) <= 18;
    if (!t->exact) return;
    long long v = 0, p10 = 1;
    for (size_t i = 0; i < n; i++) v = v * 10 + (digits[i] - '0');
    for (int i = 0; i < abs(e10 - dec); i++) p10 *= 10;
    XVal x = e10 - dec >= 0 ? xv_mul(xv_int(v), xv_int(p10)) : xv_ratio(v, p10);
    t->exact = x.exact, t->num = x.num, t->den = x.den;
}

// A base subscript after an integer: "_5", "_{16}": the base (2..36) or 0.
static int lex_base(Lexer *L) {
    const char *p = L->p;
    if (*p != '_') return 0;
    p++;
    int brace = *p == '{';
    if (brace) p++;
    int base = 0, n = 0; // without braces LaTeX subscripts one character
    while (is_digit(*p) && n < (brace ? 3 : 1)) base = base * 10 + (*p++ - '0'), n++;
    if (n == 0 || (brace && *p++ != '}')) return 0;
    if (base < 2 || base > 36) return 0;
    L->p = p;
    return base;
}

static Tok lex_number(Lexer *L) {
    char digits[80];
    size_t n = 0;
    lex_digits(L, digits, &n, sizeof digits);
    int dec = 0, e10 = 0, is_int = 1;
    if (*L->p == '.' && is_digit(L->p[1])) {
        L->p++, is_int = 0;
        while (is_digit(*L->p)) {
            if (n + 1 < sizeof digits) digits[n++] = *L->p, dec++;
            L->p++;
        }
    }
    const char *q = L->p;
    if ((*q == 'e' || *q == 'E') && (is_digit(q[1]) || ((q[1] == '-' || q[1] == '+') && is_digit(q[2])))) {
        q++;
        int neg = *q == '-';
        if (*q == '-' || *q == '+') q++;
        int v = 0;
        while (is_digit(*q)) v = v < 10000 ? v * 10 + (*q - '0') : v, q++;
        if (!is_alpha(*q)) L->p = q, e10 = neg ? -v : v, is_int = 0;
    }
    Tok t = {.kind = T_NUM, .is_int = is_int};
    snprintf(t.text, sizeof t.text, "%.*s", (int)(n < 23 ? n : 23), digits);
    int base = is_int ? lex_base(L) : 0;
    if (base) { // the digits read in that base
        long long v = 0;
        for (size_t i = 0; i < n; i++) {
            if (digits[i] - '0' >= base || v > (1LL << 56)) return tok_kind(T_BAD, "base digit", 10);
            v = v * base + (digits[i] - '0');
        }
        t.exact = 1, t.num = v, t.den = 1, t.value = (double)v, t.is_int = 0;
        return t;
    }
    num_value(&t, digits, n, dec, e10);
    return t;
}

static const char *const matrix_envs[] = {"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix",
                                          "matrix", "smallmatrix", "array", NULL};

// \begin{ENV} / \end{ENV} of a matrix (an array's column spec skipped); else T_BAD.
static Tok lex_env(Lexer *L, const char *s, size_t n) {
    while (*L->p == ' ') L->p++;
    const char *name = L->p + 1, *close = *L->p == '{' ? strchr(name, '}') : NULL;
    if (!close || !in_list(name, (size_t)(close - name), matrix_envs)) return tok_kind(T_BAD, s, n);
    L->p = close + 1;
    if (n == 5 && !strncmp(name, "array", 5) && *L->p == '{') {
        const char *e = strchr(L->p, '}');
        if (e) L->p = e + 1;
    }
    return tok_kind(T_CMD, s, n);
}

// A backslash command at L->p (past the backslash): its token, or skip (*skip = 1).
static Tok lex_command(Lexer *L, int *skip) {
    const char *s = L->p;
    size_t n = 0;
    while (is_alpha(s[n])) n++;
    if (n == 0) n = s[0] ? 1 : 0; // \, \{ \% \\ ...
    L->p = s + n;
    *skip = 0;
    if (n == 1 && strchr(",!;: ", s[0])) return *skip = 1, tok_op("");
    if (n == 1 && (s[0] == '(' || s[0] == ')' || s[0] == '[' || s[0] == ']' || s[0] == '$'))
        return *skip = 1, tok_op(""); // math delimiters and \$
    for (size_t i = 0; i < sizeof cmd_ops / sizeof cmd_ops[0]; i++)
        if (strlen(cmd_ops[i].cmd) == n && strncmp(s, cmd_ops[i].cmd, n) == 0) return tok_op(cmd_ops[i].op);
    if (in_list(s, n, skip_cmds)) {
        if ((strncmp(s, "left", 4) == 0 || strncmp(s, "right", 5) == 0) && *L->p == '.') L->p++;
        if (strncmp(s, "phantom", 7) == 0 && *L->p == '{') { // skip its group
            int d = 0;
            do d += *L->p == '{' ? 1 : *L->p == '}' ? -1 : 0; while (*++L->p && d > 0);
        }
        return *skip = 1, tok_op("");
    }
    int text = in_list(s, n, text_cmds), plain = !text && in_list(s, n, plain_groups);
    if (text || plain) {
        while (*L->p == ' ') L->p++;
        if (*L->p != '{' || L->text_depth >= EXPR_MAX_DEPTH) return tok_kind(T_BAD, s, n);
        L->p++;
        L->text_close[L->text_depth++] = (L->brace_depth++) * 2 + text;
        return *skip = 1, tok_op("");
    }
    if (in_list(s, n, greek)) return tok_kind(T_SYM, s, n);
    if (n == 5 && (!strncmp(s, "dfrac", 5) || !strncmp(s, "tfrac", 5) || !strncmp(s, "cfrac", 5)))
        return tok_kind(T_CMD, "frac", 4);
    if (n == 6 && (!strncmp(s, "dbinom", 6) || !strncmp(s, "tbinom", 6))) return tok_kind(T_CMD, "binom", 5);
    if (n == 9 && !strncmp(s, "varnothing", 9)) return tok_kind(T_CMD, "emptyset", 8);
    if ((n == 5 && !strncmp(s, "begin", 5)) || (n == 3 && !strncmp(s, "end", 3))) return lex_env(L, s, n);
    if (in_list(s, n, funcs)) return tok_kind(T_CMD, s, n);
    return tok_kind(T_BAD, s, n);
}

// Letters outside \text: one letter is a variable; sqrt, sin, pi ... functions; "or", "and"
// separate answers; units and longer words are words.
static Tok lex_letters(Lexer *L) {
    const char *s = L->p;
    size_t n = 0;
    while (is_alpha(s[n])) n++;
    if (L->text_depth > 0 && (L->text_close[L->text_depth - 1] & 1)) { // inside \text
        L->p += n;
        return tok_kind(T_WORD, s, n);
    }
    if (in_list(s, n, plain_funcs)) return L->p += n, tok_kind(T_CMD, s, n);
    if ((n == 2 && !strncmp(s, "or", 2)) || (n == 3 && !strncmp(s, "and", 3))) return L->p += n, tok_op(",");
    if (n == 1 || (n == 2 && !in_list(s, n, units))) return L->p += 1, tok_kind(T_SYM, s, 1);
    L->p += n;
    return tok_kind(T_WORD, s, n);
}

// '^': degrees (^\circ, ^{\circ}) are skipped (*skip = 1), else the operator.
static Tok lex_caret(Lexer *L, int *skip) {
    const char *p = L->p + 1;
    while (*p == ' ') p++;
    const char *forms[] = {"\\circ", "{\\circ}", "{ \\circ }", "{\\circ }", "{ \\circ}"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strncmp(p, forms[i], strlen(forms[i])) == 0) {
            L->p = p + strlen(forms[i]);
            return *skip = 1, tok_op("");
        }
    L->p++;
    return tok_op("^");
}

static Tok lex_punct(Lexer *L, int *skip) {
    const char *p = L->p;
    *skip = 0;
    if (*p == '^') return lex_caret(L, skip);
    if ((p[0] == '<' || p[0] == '>' || p[0] == '!') && p[1] == '=') {
        L->p += 2;
        return tok_kind(T_OP, p, 2);
    }
    if (*p == '{') {
        L->p++, L->brace_depth++;
        return tok_op("{");
    }
    if (*p == '}') {
        L->p++, L->brace_depth--;
        if (L->text_depth > 0 && L->text_close[L->text_depth - 1] / 2 == L->brace_depth)
            return L->text_depth--, *skip = 1, tok_op("");
        return tok_op("}");
    }
    if (*p == '$' || *p == '~' || *p == '\'' || *p == '.' || *p == '?') return L->p++, *skip = 1, tok_op("");
    if (strchr("+-*/_!%=<>,;:()[]|&", *p)) {
        L->p++;
        return tok_kind(T_OP, p, 1);
    }
    L->p++;
    return tok_kind(T_BAD, p, 1);
}

static Tok lex_unicode(Lexer *L, int *skip) {
    *skip = 0;
    for (size_t i = 0; i < sizeof uni / sizeof uni[0]; i++) {
        size_t n = strlen(uni[i].utf8);
        if (strncmp(L->p, uni[i].utf8, n) != 0) continue;
        L->p += n;
        if (!uni[i].op[0]) *skip = 1;
        return tok_op(uni[i].op);
    }
    if (strncmp(L->p, "\xcf\x80", 2) == 0) return L->p += 2, tok_kind(T_CMD, "pi", 2);
    if (strncmp(L->p, "\xe2\x88\x9a", 3) == 0) return L->p += 3, tok_kind(T_CMD, "sqrt", 4);
    const char *s = L->p; // other non-ASCII: letters of a word
    while ((unsigned char)*L->p >= 0x80 || is_alpha(*L->p)) L->p++;
    return tok_kind(T_WORD, s, (size_t)(L->p - s));
}

// Bracket depth: thousands separators are read only outside brackets.
static void lex_track(Lexer *L, const Tok *t) {
    if (t->kind != T_OP) return;
    if (!strcmp(t->text, "(") || !strcmp(t->text, "[") || !strcmp(t->text, "\\{")) L->depth++;
    if ((!strcmp(t->text, ")") || !strcmp(t->text, "]") || !strcmp(t->text, "\\}")) && L->depth > 0) L->depth--;
}

Tok lex_next(Lexer *L, int one_char) {
    for (;;) {
        while (*L->p == ' ' || *L->p == '\t' || *L->p == '\n' || *L->p == '\r') L->p++;
        char c = *L->p;
        if (!c) {
            Tok end = {.kind = T_END};
            return end;
        }
        if (one_char && (is_digit(c) || is_alpha(c))) {
            Tok t = is_digit(c) ? (Tok){.kind = T_NUM, .exact = 1, .num = c - '0', .den = 1,
                                        .value = c - '0', .is_int = 1}
                                : tok_kind(T_SYM, L->p, 1);
            t.text[0] = c, t.text[1] = 0;
            L->p++;
            return t;
        }
        int skip = 0;
        Tok t;
        if (is_digit(c) || (c == '.' && is_digit(L->p[1]))) t = lex_number(L);
        else if (c == '\\') L->p++, t = lex_command(L, &skip);
        else if (is_alpha(c)) t = lex_letters(L);
        else if ((unsigned char)c >= 0x80) t = lex_unicode(L, &skip);
        else t = lex_punct(L, &skip);
        if (skip) continue;
        lex_track(L, &t);
        return t;
    }
}

Tok lex_peek(Lexer *L) {
    Lexer save = *L;
    Tok t = lex_next(L, 0);
    *L = save;
    return t;
}
