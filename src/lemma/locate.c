// lemma/locate: the symbolic teacher's locate and classify. A solution is read step by step
// (the step verifier's steps); the first wrong step is found and its error classified into
// DESIGN.md's taxonomy by comparing it with the reference (lemma/ref.c).
//
// LOCATE. Walking the steps up to the final answer, with the set of known values (the
// numbers the question states, the reference's given, const and conversion quantities, and
// every result the solution has computed right so far), a computation is
//   - wrong when its arithmetic is wrong (the verifier's check fails);
//   - wrong when its result is no derived quantity of the reference, or one of its operands
//     is not a known value (a step can compute correctly from wrong operands);
//   - right otherwise: its result becomes known and the reference step that computes it is
//     marked done.
// The first wrong computation's step is the first wrong step. When every computation is
// right and the final answer is not the gold answer, the answer step is the wrong one (the
// last step when no step says "The answer is"). Without a reference only the arithmetic
// and the final answer can be checked.
//
// CLASSIFY, a wrong computation (rules in this order):
//   C1 its arithmetic is wrong                                   -> calculation_error
//   The reference step it meant is the not-yet-done reference step that shares the most
//   operands with it (ties: the one worded the same but for the numbers, the one with the
//   same operators, then the earliest; see align). Compared
//   as multisets, its operands differ from that step's by the written values W and the
//   meant quantities M:
//   C2 W and M empty, other operators: in a conversion step   -> unit_conversion_error
//                                      else                    -> operator_error
//   C3 W and M empty, same operators, an operand whose step
//      was never done (used before it was computed)           -> missing_step
//   C4 one operand more or fewer (|W| + |M| = 1), same operators -> counting_error
//   C5 one operand replaced (|W| = |M| = 1, written w for meant m), same operators:
//      m is a conversion factor                                -> unit_conversion_error
//      m is derived, its step not done and w is one of that
//        step's inputs (the step was skipped)                  -> missing_step
//      m is derived                                            -> previous_step_value_error
//      m is given or const and w is a known value or m's
//        digits reordered (12 read as 21)                      -> context_value_error
//      m is given or const, w comes from nowhere               -> hallucination
//   C6 one operand replaced and other operators               -> formula_confusion_error
//   C7 else: an operand from nowhere                          -> hallucination
//                                      otherwise               -> formula_confusion_error
// and a wrong final answer (every computation right):
//   A1 no answer (the grader finds no number either), an answer that is no number when
//      the gold is one, or no computation at all and no stated answer (only a stray
//      number the grader's last-number rule picks up)          -> nonsense_output
//   A2 the answer is another quantity of the reference (or, without one, an earlier
//      result than the last)                                   -> question_misinterpretation
//   A3 the asked quantity was never computed                   -> missing_step
//   A4 else (the answer disagrees with the result above)       -> contradictory_step
//   (without a reference, an answer equal to the last result cannot be placed: not located)
// confusing_concept_error is never given symbolically (it needs to understand the text).
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const LemmaRef *ref;
    long double known[LEMMA_MAX_QTY + LEMMA_MAX_STATED + 64];
    int n_known;
    unsigned char produced[LEMMA_MAX_STEPS];
    int n_comps;               // right computations seen
    long double results[64];   // their results, in order (no reference: answer rules)
    int n_results;
} Tracker;

static int is_known(const Tracker *t, long double v) {
    for (int i = 0; i < t->n_known; i++)
        if (lemma_num_eq(t->known[i], v)) return 1;
    return 0;
}

static void add_known(Tracker *t, long double v) {
    if (!is_known(t, v) && t->n_known < (int)(sizeof t->known / sizeof t->known[0])) t->known[t->n_known++] = v;
}

static void tracker_init(Tracker *t, const LemmaQuestion *q) {
    memset(t, 0, sizeof *t);
    t->ref = q->ref;
    long double stated[LEMMA_MAX_STATED];
    int n = lemma_stated_numbers(q->p.question, stated, LEMMA_MAX_STATED);
    for (int i = 0; i < n; i++) add_known(t, stated[i]);
    for (int i = 0; t->ref && i < t->ref->n_qty; i++)
        if (t->ref->qty[i].kind != TQ_DERIVED) add_known(t, t->ref->qty[i].value);
}

// The derived quantity a right result is: one with that value whose step is not done yet,
// else any with that value; -1 none.
static int derived_with_value(const Tracker *t, long double v) {
    int any = -1;
    for (int i = 0; i < t->ref->n_qty; i++) {
        const LemmaQty *q = &t->ref->qty[i];
        if (q->kind != TQ_DERIVED || !lemma_num_eq(q->value, v)) continue;
        if (!t->produced[q->step]) return i;
        if (any < 0) any = i;
    }
    return any;
}

// Is c a right computation (then recorded)? Only the arithmetic without a reference.
static int track(Tracker *t, const LemmaComp *c) {
    if (!c->ok) return 0;
    if (t->ref) {
        int d = derived_with_value(t, c->stated);
        if (d < 0) return 0;
        for (int a = 0; a < c->n; a++)
            if (!is_known(t, c->v[a])) return 0;
        t->produced[t->ref->qty[d].step] = 1;
    }
    add_known(t, c->stated);
    t->n_comps++;
    if (t->n_results < 64) t->results[t->n_results++] = c->stated;
    return 1;
}

// ---------------------------------------------------------------------------
// Classification of a wrong computation

typedef struct {
    int r;                        // the reference step meant
    int n_w, n_m;                 // operands written that the step lacks; quantities it has that were not written
    long double w[LEMMA_MAX_ARGS];
    int m[LEMMA_MAX_ARGS];
    int same_ops, same_kind;      // operator sequences equal; the same set of operators
} Alignment;

static int ops_same_kind(const char *a, int na, const char *b, int nb) {
    if (na == 0 || nb == 0) return na == nb;
    for (int i = 0; i < na; i++)
        if (!memchr(b, a[i], (size_t)nb)) return 0;
    for (int i = 0; i < nb; i++)
        if (!memchr(a, b[i], (size_t)na)) return 0;
    return 1;
}

// Matches c's operands with step r's as multisets: an operand at the same position first
// (a derived 3 and a const 3 stay apart), then any equal one.
static void align_with(const LemmaRef *ref, const LemmaComp *c, int r, Alignment *al) {
    const LemmaRefStep *rs = &ref->steps[r];
    unsigned char used[LEMMA_MAX_ARGS] = {0}, hit[LEMMA_MAX_ARGS] = {0};
    memset(al, 0, sizeof *al);
    al->r = r;
    for (int i = 0; i < c->n && i < rs->n_args; i++)
        if (lemma_num_eq(c->v[i], ref->qty[rs->args[i]].value)) used[i] = hit[i] = 1;
    for (int i = 0; i < c->n; i++) {
        for (int a = 0; a < rs->n_args && !hit[i]; a++)
            if (!used[a] && lemma_num_eq(c->v[i], ref->qty[rs->args[a]].value)) used[a] = hit[i] = 1;
        if (!hit[i]) al->w[al->n_w++] = c->v[i];
    }
    for (int a = 0; a < rs->n_args; a++)
        if (!used[a]) al->m[al->n_m++] = rs->args[a];
    al->same_ops = c->n == rs->n_args && memcmp(c->ops, rs->ops, (size_t)(c->n - 1)) == 0;
    al->same_kind = ops_same_kind(c->ops, c->n - 1, rs->ops, rs->n_args - 1);
}

// The letters of a step, lower case: its wording without the numbers.
static void skeleton(const char *text, char *buf, size_t cap) {
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < cap; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) buf[n++] = (char)(*p | 0x20);
    buf[n] = 0;
}

// The reference step c (written in the step `text`) meant; -1 when the reference has none.
// Score: 4 per shared operand, 3 for the same wording as the reference line (a tie-break
// between steps that share as many operands), 2 for the same operators, 1 for the same
// kind of operators.
static int align(const Tracker *t, const LemmaComp *c, const char *text, Alignment *best) {
    int found = -1, best_score = -1;
    char mine[256], theirs[256];
    skeleton(text, mine, sizeof mine);
    for (int pass = 0; pass < 2 && found < 0; pass++) {
        for (int r = 0; r < t->ref->n_steps; r++) {
            if (pass == 0 && t->produced[r]) continue;
            Alignment al;
            align_with(t->ref, c, r, &al);
            int line = t->ref->steps[r].line, same_words = 0;
            if (line < t->ref->n_lines) {
                skeleton(t->ref->lines[line], theirs, sizeof theirs);
                same_words = mine[0] && strcmp(mine, theirs) == 0;
            }
            int score = 4 * (c->n - al.n_w) + 3 * same_words + 2 * al.same_ops + al.same_kind;
            if (score > best_score) best_score = score, found = r, *best = al;
        }
    }
    return found;
}

static int step_has_input(const LemmaRef *ref, int step, long double v) {
    const LemmaRefStep *rs = &ref->steps[step];
    for (int a = 0; a < rs->n_args; a++)
        if (lemma_num_eq(ref->qty[rs->args[a]].value, v)) return 1;
    return 0;
}

// Rule C5: one operand replaced, same operators.
static LemmaErrorType classify_replaced(const Tracker *t, long double w, int m) {
    const LemmaQty *q = &t->ref->qty[m];
    if (q->kind == TQ_CONVERSION) return LEMMA_ERR_UNIT_CONVERSION;
    if (q->kind == TQ_DERIVED) {
        if (!t->produced[q->step] && step_has_input(t->ref, q->step, w)) return LEMMA_ERR_MISSING_STEP;
        return LEMMA_ERR_PREVIOUS_STEP_VALUE;
    }
    if (is_known(t, w) || lemma_digits_reordered(w, q->value)) return LEMMA_ERR_CONTEXT_VALUE;
    return LEMMA_ERR_HALLUCINATION;
}

static int has_unknown_operand(const Tracker *t, const LemmaComp *c) {
    for (int i = 0; i < c->n; i++)
        if (!is_known(t, c->v[i])) return 1;
    return 0;
}

static LemmaErrorType classify_comp(const Tracker *t, const LemmaComp *c, const char *text,
                                    LemmaLocation *loc) {
    if (!c->ok) return LEMMA_ERR_CALCULATION;                                      // C1
    Alignment al;
    memset(&al, 0, sizeof al);
    if (!t->ref || align(t, c, text, &al) < 0)
        return has_unknown_operand(t, c) ? LEMMA_ERR_HALLUCINATION : LEMMA_ERR_FORMULA_CONFUSION;
    const LemmaRefStep *rs = &t->ref->steps[al.r];
    loc->ref_step = al.r;
    if (al.n_w == 0 && al.n_m == 0 && !al.same_ops)                                 // C2
        return rs->convert ? LEMMA_ERR_UNIT_CONVERSION : LEMMA_ERR_OPERATOR;
    if (al.n_w == 0 && al.n_m == 0) {                                               // C3
        for (int a = 0; a < rs->n_args; a++) {
            const LemmaQty *q = &t->ref->qty[rs->args[a]];
            if (q->kind == TQ_DERIVED && !t->produced[q->step]) {
                loc->meant = q->value, loc->written = q->value;
                return LEMMA_ERR_MISSING_STEP;
            }
        }
        return LEMMA_ERR_FORMULA_CONFUSION;
    }
    if (al.n_w + al.n_m == 1 && al.same_kind) return LEMMA_ERR_COUNTING;             // C4
    if (al.n_w == 1 && al.n_m == 1) {
        loc->written = al.w[0], loc->meant = t->ref->qty[al.m[0]].value;
        if (!al.same_ops) return LEMMA_ERR_FORMULA_CONFUSION;                        // C6
        return classify_replaced(t, al.w[0], al.m[0]);                               // C5
    }
    return has_unknown_operand(t, c) ? LEMMA_ERR_HALLUCINATION : LEMMA_ERR_FORMULA_CONFUSION; // C7
}

// ---------------------------------------------------------------------------
// Classification of a wrong final answer

static int is_ref_quantity(const LemmaRef *ref, long double v) {
    for (int i = 0; i < ref->n_qty; i++)
        if (i != ref->target && lemma_num_eq(ref->qty[i].value, v)) return 1;
    return 0;
}

static LemmaErrorType classify_answer(const Tracker *t, const char *solution, const char *gold) {
    GradeSource src;
    char *pred = grade_extract_answer(solution, &src);
    TasksNum pv, gv;
    int pred_num = pred && grade_parse_number(pred, &pv), gold_num = grade_parse_number(gold, &gv);
    free(pred);
    if (!pred || (!pred_num && gold_num) || (t->n_comps == 0 && src == GRADE_LAST_NUMBER))
        return LEMMA_ERR_NONSENSE_OUTPUT;                                           // A1
    const LemmaRef *ref = t->ref;
    if (ref && pred_num && is_ref_quantity(ref, pv.v)) return LEMMA_ERR_QUESTION_MISINTERPRETATION; // A2
    if (!ref && pred_num && t->n_results > 0) {
        for (int i = 0; i + 1 < t->n_results; i++)
            if (lemma_num_eq(t->results[i], pv.v)) return LEMMA_ERR_QUESTION_MISINTERPRETATION;
        if (lemma_num_eq(t->results[t->n_results - 1], pv.v)) return LEMMA_N_ERRORS; // cannot tell
    }
    if (ref && ref->target >= 0 && !t->produced[ref->qty[ref->target].step]) return LEMMA_ERR_MISSING_STEP; // A3
    return LEMMA_ERR_CONTRADICTORY_STEP;                                           // A4
}

// ---------------------------------------------------------------------------
// Explanations (our wording; no "a op b = c" claims, so that the text after a reflection
// still verifies)

static const char *op_verb(char op) {
    switch (op) {
    case '+': return "added";
    case '-': return "subtracted";
    case '*': return "multiplied";
    case '/': return "divided";
    }
    return "combined";
}

// The question's last sentence (what it asks), into buf.
static void asked(const char *question, char *buf, size_t cap) {
    const char *s = question, *p;
    size_t n = strlen(question);
    while (n > 0 && (question[n - 1] == ' ' || question[n - 1] == '\n')) n--;
    for (p = question; p < question + n; p++)
        if ((*p == '.' || *p == '!') && p + 1 < question + n && p[1] == ' ') s = p + 2;
    snprintf(buf, cap, "%.*s", (int)(question + n - s), s);
}

static void explain(const LemmaQuestion *q, LemmaLocation *loc) {
    char w[48], m[48], v[48], st[48], ask[256];
    lemma_num_format(loc->written, w, sizeof w);
    lemma_num_format(loc->meant, m, sizeof m);
    lemma_num_format(loc->comp.value, v, sizeof v);
    lemma_num_format(loc->comp.stated, st, sizeof st);
    const LemmaRefStep *rs = q->ref && loc->ref_step >= 0 ? &q->ref->steps[loc->ref_step] : NULL;
    char *e = loc->explanation;
    size_t cap = sizeof loc->explanation;
    switch (loc->type) {
    case LEMMA_ERR_CALCULATION:
        snprintf(e, cap, "%s is %s, not %s.", loc->comp.text, v, st);
        break;
    case LEMMA_ERR_OPERATOR:
        snprintf(e, cap, "These numbers should be %s, not %s.", op_verb(rs ? rs->ops[0] : 0), op_verb(loc->comp.ops[0]));
        break;
    case LEMMA_ERR_UNIT_CONVERSION:
        if (!lemma_num_eq(loc->written, loc->meant))
            snprintf(e, cap, "The unit conversion is wrong: the factor is %s, not %s.", m, w);
        else
            snprintf(e, cap, "The unit conversion goes the wrong way: the amount should be %s, not %s.",
                     op_verb(rs ? rs->ops[0] : 0), op_verb(loc->comp.ops[0]));
        break;
    case LEMMA_ERR_COUNTING:
        snprintf(e, cap, "A term is counted wrong here: this sum needs %d terms, not %d.", rs ? rs->n_args : 0, loc->comp.n);
        break;
    case LEMMA_ERR_CONTEXT_VALUE: snprintf(e, cap, "The question gives %s here, not %s.", m, w); break;
    case LEMMA_ERR_PREVIOUS_STEP_VALUE: snprintf(e, cap, "The earlier result is %s, not %s.", m, w); break;
    case LEMMA_ERR_HALLUCINATION:
        snprintf(e, cap, "The number %s is neither given in the question nor worked out before.", w);
        break;
    case LEMMA_ERR_MISSING_STEP:
        if (loc->at_answer) snprintf(e, cap, "The solution stops before it answers the question.");
        else snprintf(e, cap, "A step was skipped: the value needed here is %s, which has not been worked out yet.", m);
        break;
    case LEMMA_ERR_QUESTION_MISINTERPRETATION:
        asked(q->p.question, ask, sizeof ask);
        snprintf(e, cap, "That answers a different question. The question asks: %s", ask);
        break;
    case LEMMA_ERR_CONTRADICTORY_STEP:
        snprintf(e, cap, "The final answer does not match the result worked out above.");
        break;
    case LEMMA_ERR_NONSENSE_OUTPUT: snprintf(e, cap, "This does not answer the question."); break;
    default: snprintf(e, cap, "This step does not combine the numbers the right way."); break;
    }
}

// ---------------------------------------------------------------------------
// Locate

static void located_at(LemmaLocation *loc, const LemmaSteps *s, const Tracker *t, int step) {
    loc->step = step;
    loc->start = s->start[step], loc->end = s->end[step];
    memcpy(loc->produced, t->produced, sizeof loc->produced);
}

int lemma_locate(const LemmaQuestion *q, const char *solution, LemmaLocation *loc) {
    memset(loc, 0, sizeof *loc);
    loc->step = -1, loc->ref_step = -1;
    LemmaSteps s;
    lemma_steps_split(solution, &s);
    Tracker t;
    tracker_init(&t, q);
    int last = s.answer_step >= 0 ? s.answer_step : s.vr.n_steps - 1, rc = -1;
    for (int i = 0; i <= last && rc < 0; i++) {
        const VerifyStep *st = &s.vr.steps[i];
        for (int k = 0; k < st->n_checks && rc < 0; k++) {
            LemmaComp c;
            int parsed = lemma_comp_from_check(&st->checks[k], &c) == 0;
            if (c.ok && (!parsed || c.n < 2)) continue; // nothing computed
            if (parsed && track(&t, &c)) continue;
            loc->comp = c, loc->has_comp = parsed;
            loc->type = parsed ? classify_comp(&t, &c, st->text, loc) : LEMMA_ERR_CALCULATION;
            located_at(loc, &s, &t, i);
            rc = 0;
        }
    }
    char *pred = grade_extract_answer(solution, NULL);
    int right = pred && grade_equal(pred, q->p.answer);
    free(pred);
    if (rc < 0 && !right && last >= 0) {
        loc->type = classify_answer(&t, solution, q->p.answer);
        loc->at_answer = 1;
        if (loc->type != LEMMA_N_ERRORS) located_at(loc, &s, &t, last), rc = 0;
    }
    if (rc == 0) explain(q, loc);
    lemma_steps_free(&s);
    return rc;
}

int lemma_location_at(const char *solution, int step, LemmaLocation *loc) {
    LemmaSteps s;
    lemma_steps_split(solution, &s);
    int rc = step >= 0 && step < s.vr.n_steps ? 0 : -1;
    if (rc == 0) {
        loc->step = step;
        loc->start = s.start[step], loc->end = s.end[step];
        loc->at_answer = step == s.answer_step;
    }
    lemma_steps_free(&s);
    return rc;
}
