// tasks/gen: the built-in generator of grade-school word problems. A problem is a chain of
// relations (times as many, fraction of, more, fewer, gains and losses, equal shares, packs
// and rates, totals, differences, unit conversions) built as a computation graph, with the
// question and the step-by-step solution rendered from templates. Every draw comes from
// Philox keyed by (seed, split, index, attempt), so a problem is a pure function of them;
// train and test are split by a hash of the question text (docs/tasks.md).
#include "lemma/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX_SENT 40
#define GEN_SENT_LEN 256
#define GEN_MAX_ATTEMPTS 1024
#define GEN_DRAWS_PER_ATTEMPT 4096
#define GEN_QUESTION (-2)     // sentence index placeholder: the question sentence
#define GEN_CAP_FACTOR 50     // no value in a problem exceeds 50 x the operand bound
#define GEN_TEST_BUCKETS 10   // a question is test when its hash % 10 == 0

// ---------------------------------------------------------------------------
// Text pools

typedef struct {
    const char *name;
    int female;
} GenName;

static const GenName gen_names[] = {
    {"Ann", 1},   {"Bob", 0},   {"Cara", 1},  {"Dan", 0},    {"Eva", 1},    {"Finn", 0},
    {"Gina", 1},  {"Hugo", 0},  {"Ivy", 1},   {"Jack", 0},   {"Kim", 1},    {"Leo", 0},
    {"Mia", 1},   {"Noah", 0},  {"Olga", 1},  {"Pete", 0},   {"Rosa", 1},   {"Sam", 0},
    {"Tina", 1},  {"Omar", 0},  {"Uma", 1},   {"Victor", 0}, {"Wendy", 1},  {"Xavier", 0},
    {"Yara", 1},  {"Zane", 0},  {"Lily", 1},  {"Max", 0},    {"Nora", 1},   {"Ravi", 0},
    {"Sofia", 1}, {"Theo", 0},  {"Maya", 1},  {"Ben", 0},    {"Chloe", 1},  {"Eli", 0},
    {"Hana", 1},  {"Ivan", 0},  {"Jade", 1},  {"Kofi", 0},
};
#define GEN_N_NAMES ((int)(sizeof gen_names / sizeof gen_names[0]))

static const char *gen_items[] = {
    "marbles", "stickers", "apples", "books", "pencils", "cards", "stamps", "shells",
    "cookies", "coins", "crayons", "eggs", "beads", "buttons", "candies", "balloons",
    "flowers", "rocks", "toy cars", "muffins", "oranges", "postcards", "comic books", "ribbons",
};
#define GEN_N_ITEMS ((int)(sizeof gen_items / sizeof gen_items[0]))

static const char *gen_boxes[][2] = {{"boxes", "box"}, {"bags", "bag"}, {"packs", "pack"},
                                     {"jars", "jar"}, {"baskets", "basket"}};

typedef enum { THEME_ITEMS, THEME_TIME, THEME_MONEY } GenTheme;

// A verb and its forms: "Ann {v} 12 marbles", "they {vp}", "how many {aux} Ann {base}".
typedef struct {
    const char *v, *vp, *aux, *auxp, *base;
    int change;                             // "Then Ann buys 3 more" reads well
    const char *rate, *rate_a, *rate_b;     // a rate sentence and the units of {a} and {b}
} GenVerb;

static const GenVerb verbs_items[] = {
    {"has", "have", "does", "do", "have", 1, "{E} has {a} {boxes} of {u}, with {b} {u} in each {box}.",
     "{boxes}", "{u} per {box}"},
    {"collected", "collected", "did", "did", "collect", 0,
     "{E} collected {a} {boxes} of {u}, with {b} {u} in each {box}.", "{boxes}", "{u} per {box}"},
};
static const GenVerb verbs_time[] = {
    {"read for", "read for", "did", "did", "read for", 0, "{E} read for {b} minutes a day for {a} days.",
     "days", "minutes per day"},
    {"studied for", "studied for", "did", "did", "study for", 0,
     "{E} studied for {b} minutes a day for {a} days.", "days", "minutes per day"},
    {"practiced piano for", "practiced piano for", "did", "did", "practice piano for", 0,
     "{E} practiced piano for {b} minutes a day for {a} days.", "days", "minutes per day"},
    {"walked for", "walked for", "did", "did", "walk for", 0,
     "{E} walked for {b} minutes a day for {a} days.", "days", "minutes per day"},
};
static const GenVerb verbs_money[] = {
    {"has", "have", "does", "do", "have", 1, "{E} has {a} envelopes with {b} dollars in each.",
     "envelopes", "dollars per envelope"},
    {"saved", "saved", "did", "did", "save", 0, "{E} saved {b} dollars a week for {a} weeks.",
     "weeks", "dollars per week"},
    {"earned", "earned", "did", "did", "earn", 0, "{E} earned {b} dollars an hour for {a} hours.",
     "hours", "dollars per hour"},
};

static const char *gain_items[] = {"Then {B} buys {a} more {u}.", "Then {B} finds {a} more {u}.",
                                   "{B} gets {a} more {u} from a friend."};
static const char *loss_items[] = {"Then {B} gives away {a} {u}.", "{B} loses {a} {u}.",
                                   "Then {B} gives {a} {u} to a friend."};
static const char *gain_money[] = {"Then {B} earns {a} more {u}.", "{B} finds {a} more {u}."};
static const char *loss_money[] = {"Then {B} spends {a} {u} on lunch.", "{B} loses {a} {u}."};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

// ---------------------------------------------------------------------------
// Generator state

typedef struct {
    const GenParams *p;
    uint64_t ctr, ctr_end; // Philox counter of the next draw, end of this attempt's range
    int64_t maxop, cap;
    GenTheme theme;
    const GenVerb *verb;
    const char *u;                        // the unit counted: the item, "minutes", "dollars"
    const char *box, *boxes;
    TaskGraph g;
    char sent[GEN_MAX_SENT][GEN_SENT_LEN];
    int n_sent;
    char question[GEN_SENT_LEN];          // the question about cur, for a plain ending
    int used[GEN_N_NAMES];
    int name_of[TASK_MAX_QUANTITIES];     // name index of a quantity's entity, -1 none
    int live[TASK_MAX_QUANTITIES];        // the entity's current value: may be referred to
    int cur;                              // the quantity the chain continues from
    int ops;
    int fail;
} Gen;

// Named slots of a template; {0} {1} {op} {=} are left for tasks_render_step.
typedef struct {
    const char *E, *B, *C, *D, *pos, *frac;
    int64_t a, b;
} Slots;

static uint32_t gen_u32(Gen *G) {
    if (G->ctr >= G->ctr_end) {
        G->fail = 1;
        return 0;
    }
    return lm_rng_u32(G->p->seed, LM_STREAM_TASKS, G->ctr++);
}

static int64_t gen_int(Gen *G, int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    uint64_t r = ((uint64_t)gen_u32(G) << 32) | gen_u32(G);
    return lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
}

static int gen_chance(Gen *G, double p) { return (double)gen_u32(G) < p * 4294967296.0; }

static const char *pick(Gen *G, const char *const *list, int n) { return list[gen_int(G, 0, n - 1)]; }

// A name not used yet in this problem.
static int new_name(Gen *G) {
    int i = (int)gen_int(G, 0, GEN_N_NAMES - 1);
    while (G->used[i]) i = (i + 1) % GEN_N_NAMES;
    G->used[i] = 1;
    return i;
}

static const char *name_str(int i) { return i >= 0 ? gen_names[i].name : ""; }
static const char *pos_str(int i) { return i >= 0 && gen_names[i].female ? "her" : "his"; }

// ---------------------------------------------------------------------------
// Text

static const char *slot_value(const Gen *G, const Slots *s, const char *key, char *num) {
    static const char *keys[] = {"E", "B", "C", "D", "pos", "frac", "V", "Vp", "aux", "auxp",
                                 "base", "u", "box", "boxes"};
    const char *vals[] = {s->E, s->B, s->C, s->D, s->pos, s->frac, G->verb->v, G->verb->vp,
                          G->verb->aux, G->verb->auxp, G->verb->base, G->u, G->box, G->boxes};
    for (int k = 0; k < N_OF(keys); k++)
        if (strcmp(key, keys[k]) == 0) return vals[k] ? vals[k] : "";
    if (strcmp(key, "a") == 0 || strcmp(key, "b") == 0) {
        snprintf(num, 32, "%lld", (long long)(key[0] == 'a' ? s->a : s->b));
        return num;
    }
    return NULL;
}

// Fills the named slots of tmpl into out; other {..} are copied as they are.
static void fill(Gen *G, const char *tmpl, const Slots *s, char *out, size_t cap) {
    size_t n = 0;
    char key[16], num[32];
    for (const char *p = tmpl; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        const char *val = NULL;
        if (close && (size_t)(close - p) < sizeof key) {
            memcpy(key, p + 1, (size_t)(close - p - 1));
            key[close - p - 1] = 0;
            val = slot_value(G, s, key, num);
        }
        size_t len = val ? strlen(val) : 1;
        LM_CHECK(n + len < cap, "gen: template text too long: %s", tmpl);
        memcpy(out + n, val ? val : p, len);
        n += len;
        p = val ? close + 1 : p + 1;
    }
    out[n] = 0;
}

static int sent_add(Gen *G, const char *tmpl, const Slots *s) {
    LM_CHECK(G->n_sent < GEN_MAX_SENT, "gen: too many sentences");
    fill(G, tmpl, s, G->sent[G->n_sent], GEN_SENT_LEN);
    return G->n_sent++;
}

// ---------------------------------------------------------------------------
// Graph

static int q_add(Gen *G, TaskQuantityKind kind, int64_t value, int name, const char *unit, int sentence) {
    LM_CHECK(G->g.n_quantities < TASK_MAX_QUANTITIES, "gen: too many quantities");
    int id = G->g.n_quantities++;
    TaskQuantity *q = &G->g.quantities[id];
    memset(q, 0, sizeof *q);
    q->kind = kind, q->value = value, q->sentence = sentence, q->step = -1;
    snprintf(q->entity, sizeof q->entity, "%s", name_str(name));
    snprintf(q->unit, sizeof q->unit, "%s", unit);
    G->name_of[id] = name;
    G->live[id] = 0;
    return id;
}

// A step computing a new derived quantity of entity name from args; marks failure when the
// value leaves [1, cap] or a division is not exact.
static int step_add(Gen *G, const char *relation, char op, const int *args, int n, int name,
                    const char *unit, int sentence, const char *tmpl, const Slots *s) {
    LM_CHECK(G->g.n_steps < TASK_MAX_STEPS && n <= TASK_MAX_ARGS, "gen: too many steps");
    int k = G->g.n_steps;
    TaskStep *st = &G->g.steps[k];
    memset(st, 0, sizeof *st);
    st->line = k, st->op = op, st->n_args = n;
    memcpy(st->args, args, sizeof(int) * (size_t)n);
    snprintf(st->relation, sizeof st->relation, "%s", relation);
    fill(G, tmpl, s, st->tmpl, sizeof st->tmpl);
    int64_t v = 0;
    G->g.n_steps++;
    if (tasks_graph_eval_step(&G->g, k, &v) || v < 1 || v > G->cap) G->fail = 1;
    int id = q_add(G, TQ_DERIVED, v, name, unit, sentence);
    G->g.quantities[id].step = k;
    st->out = id;
    G->ops += n - 1;
    return id;
}

// Two args in a random order (for + and *).
static void shuffle2(Gen *G, int *args) {
    if (gen_chance(G, 0.5)) {
        int t = args[0];
        args[0] = args[1], args[1] = t;
    }
}

static int64_t val(const Gen *G, int q) { return G->g.quantities[q].value; }

// A new entity's value through a relation with cur; it becomes live and the new cur.
static void continue_chain(Gen *G, int q, const char *question_tmpl, const Slots *s) {
    G->live[q] = 1;
    G->cur = q;
    fill(G, question_tmpl, s, G->question, sizeof G->question);
}

// The statement of a given amount for a new entity; returns the quantity.
static int given_entity(Gen *G, int64_t value) {
    int e = new_name(G);
    Slots s = {.E = name_str(e), .a = value};
    int q = q_add(G, TQ_GIVEN, value, e, G->u, sent_add(G, "{E} {V} {a} {u}.", &s));
    G->live[q] = 1;
    return q;
}

// ---------------------------------------------------------------------------
// Relations that continue the chain: 0 done, -1 not applicable here (nothing changed).

static const char *q_plain = "How many {u} {aux} {E} {base}?";

// "E has k times as many as B": k * cur.
static int rel_times(Gen *G) {
    int64_t k = gen_int(G, 2, 5), c = val(G, G->cur);
    if (c * k > G->cap) return -1;
    int e = new_name(G), b = G->name_of[G->cur];
    Slots s = {.E = name_str(e), .B = name_str(b), .a = k};
    static const char *t[] = {"{E} {V} {a} times as many {u} as {B}.",
                              "{E} {V} {a} times the number of {u} that {B} {V}."};
    const char *tmpl = k == 2 && gen_chance(G, 0.5) ? "{E} {V} twice as many {u} as {B}." : pick(G, t, 2);
    int sn = sent_add(G, tmpl, &s);
    int args[2] = {q_add(G, TQ_CONST, k, -1, "", sn), G->cur};
    shuffle2(G, args);
    int q = step_add(G, "times", '*', args, 2, e, G->u, sn, "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
    return 0;
}

// "E has half (a third, ...) as many as B": cur / k, exact.
static int rel_fraction(Gen *G) {
    static const char *words[] = {"", "", "half", "a third", "a quarter", "a fifth"};
    int64_t c = val(G, G->cur), k = gen_int(G, 2, 5);
    while (k <= 5 && c % k != 0) k++;
    if (k > 5) return -1;
    int e = new_name(G), b = G->name_of[G->cur];
    Slots s = {.E = name_str(e), .B = name_str(b), .frac = words[k]};
    static const char *t[] = {"{E} {V} {frac} as many {u} as {B}.",
                              "{E} {V} {frac} of the number of {u} that {B} {V}."};
    int sn = sent_add(G, pick(G, t, 2), &s);
    int args[2] = {G->cur, q_add(G, TQ_CONST, k, -1, "", sn)};
    int q = step_add(G, "fraction", '/', args, 2, e, G->u, sn, "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
    return 0;
}

// A difference d for cur + sign * d: in [1, maxop], below cur for a decrease, within the
// cap; -1 when there is none.
static int64_t draw_delta(Gen *G, int sign) {
    int64_t c = val(G, G->cur), hi = sign > 0 || c - 1 > G->maxop ? G->maxop : c - 1;
    if (hi < 1) return -1;
    int64_t d = gen_int(G, 1, hi);
    return c + sign * d > G->cap ? -1 : d;
}

// "E has d more than B" (sign +1) or "d fewer" (sign -1), sometimes said the other way round.
static int rel_more_fewer(Gen *G, int sign) {
    int64_t d = draw_delta(G, sign);
    if (d < 0) return -1;
    int e = new_name(G), b = G->name_of[G->cur];
    Slots s = {.E = name_str(e), .B = name_str(b), .a = d};
    static const char *more[] = {"{E} {V} {a} more {u} than {B}.", "{E} {V} {a} {u} more than {B}.",
                                 "{B} {V} {a} fewer {u} than {E}."};
    static const char *fewer[] = {"{E} {V} {a} fewer {u} than {B}.", "{E} {V} {a} {u} less than {B}.",
                                  "{B} {V} {a} more {u} than {E}."};
    int sn = sent_add(G, pick(G, sign > 0 ? more : fewer, 3), &s);
    int args[2] = {G->cur, q_add(G, TQ_CONST, d, -1, "", sn)};
    if (sign > 0) shuffle2(G, args);
    int q = step_add(G, sign > 0 ? "more" : "fewer", sign > 0 ? '+' : '-', args, 2, e, G->u, sn,
                     "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
    return 0;
}

static int rel_more(Gen *G) { return rel_more_fewer(G, 1); }
static int rel_fewer(Gen *G) { return rel_more_fewer(G, -1); }

// "Then B buys d more" / "B loses d": the same entity's new value.
static const char *change_template(Gen *G, int sign) {
    if (G->theme == THEME_MONEY)
        return sign > 0 ? pick(G, gain_money, N_OF(gain_money)) : pick(G, loss_money, N_OF(loss_money));
    return sign > 0 ? pick(G, gain_items, N_OF(gain_items)) : pick(G, loss_items, N_OF(loss_items));
}

static int rel_gain_loss(Gen *G, int sign) {
    if (!G->verb->change || G->theme == THEME_TIME) return -1;
    int64_t d = draw_delta(G, sign);
    if (d < 0) return -1;
    int b = G->name_of[G->cur];
    Slots s = {.B = name_str(b), .a = d};
    int sn = sent_add(G, change_template(G, sign), &s);
    int args[2] = {G->cur, q_add(G, TQ_CONST, d, -1, "", sn)};
    G->live[G->cur] = 0;
    int q = step_add(G, sign > 0 ? "gain" : "loss", sign > 0 ? '+' : '-', args, 2, b, G->u, sn,
                     "{B} now has {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, "How many {u} does {B} have now?", &s);
    return 0;
}

static int rel_gain(Gen *G) { return rel_gain_loss(G, 1); }
static int rel_loss(Gen *G) { return rel_gain_loss(G, -1); }

// "B shares her marbles equally among k friends, and E is one of them" (cur / k).
static int rel_share(Gen *G) {
    if (G->theme == THEME_TIME) return -1;
    int64_t c = val(G, G->cur), hi = G->maxop < 12 ? G->maxop : 12, k = gen_int(G, 2, hi), k0 = k;
    while (c % k != 0) {
        k = k == hi ? 2 : k + 1;
        if (k == k0) return -1;
    }
    int e = new_name(G), b = G->name_of[G->cur];
    Slots s = {.E = name_str(e), .B = name_str(b), .pos = pos_str(b), .a = k};
    static const char *t[] = {"{B} shares {pos} {u} equally among {a} friends, and {E} is one of them.",
                              "{B} divides {pos} {u} equally among {a} children, including {E}."};
    int sn = sent_add(G, pick(G, t, 2), &s);
    int args[2] = {G->cur, q_add(G, TQ_CONST, k, -1, "", sn)};
    G->live[G->cur] = 0;
    int q = step_add(G, "share", '/', args, 2, e, G->u, sn, "{E} gets {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, "How many {u} does {E} get?", &s);
    return 0;
}

// Live quantities of entities other than cur's and than quantity skip's (-1: none).
static int others_live(const Gen *G, int skip, int *out) {
    int n = 0;
    for (int q = 0; q < G->g.n_quantities; q++) {
        int e = G->name_of[q];
        if (G->live[q] && e != G->name_of[G->cur] && (skip < 0 || e != G->name_of[skip])) out[n++] = q;
    }
    return n;
}

// A live quantity of another entity (not skip's, preferably not worth avoid_value), stating
// a new one when there is none.
static int other_entity(Gen *G, int skip, int64_t avoid_value) {
    int others[TASK_MAX_QUANTITIES], n = others_live(G, skip, others);
    for (int tries = 0; n > 0 && tries < 4; tries++) {
        int q = others[gen_int(G, 0, n - 1)];
        if (val(G, q) != avoid_value) return q;
    }
    int64_t v;
    do v = gen_int(G, 2, G->maxop);
    while (v == avoid_value && !G->fail);
    return given_entity(G, v);
}

// "E has as many as B and C combined" (cur + another entity).
static int rel_total(Gen *G) {
    int other = other_entity(G, -1, -1);
    int args[2] = {G->cur, other};
    shuffle2(G, args);
    int e = new_name(G);
    Slots s = {.E = name_str(e), .B = name_str(G->name_of[args[0]]), .C = name_str(G->name_of[args[1]])};
    static const char *t[] = {"{E} {V} as many {u} as {B} and {C} combined.",
                              "{E} {V} as many {u} as {B} and {C} together."};
    int sn = sent_add(G, pick(G, t, 2), &s);
    int q = step_add(G, "total", '+', args, 2, e, G->u, sn, "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
    return 0;
}

typedef int (*GenRelation)(Gen *G);

static int chain_step(Gen *G) {
    static const GenRelation rels[] = {rel_times, rel_times, rel_fraction, rel_more, rel_more,
                                       rel_fewer, rel_fewer, rel_gain, rel_loss, rel_share, rel_total};
    for (int tries = 0; tries < 32 && !G->fail; tries++)
        if (rels[gen_int(G, 0, N_OF(rels) - 1)](G) == 0) return 0;
    return -1;
}

// ---------------------------------------------------------------------------
// Starts: the first entity's amount, stated plainly, in a larger unit, or as a rate.

static void start_plain(Gen *G) {
    int q = given_entity(G, gen_int(G, 2, G->maxop));
    G->cur = q;
}

// "Ann has 3 dozen eggs" / "Ann read for 2 hours": one conversion step.
static int start_big(Gen *G) {
    if (G->theme == THEME_MONEY) return -1;
    int items = G->theme == THEME_ITEMS;
    int64_t f = items ? 12 : 60, a = gen_int(G, 2, G->maxop / 10 > 2 ? G->maxop / 10 : 2);
    int e = new_name(G);
    Slots s = {.E = name_str(e), .a = a};
    char big_unit[TASK_NAME_LEN], conv_unit[TASK_NAME_LEN];
    snprintf(big_unit, sizeof big_unit, items ? "dozen %s" : "hours", G->u);
    snprintf(conv_unit, sizeof conv_unit, items ? "%s per dozen" : "minutes per hour", G->u);
    int sn = sent_add(G, items ? "{E} {V} {a} dozen {u}." : "{E} {V} {a} hours.", &s);
    int args[2] = {q_add(G, TQ_GIVEN, a, e, big_unit, sn), q_add(G, TQ_CONVERSION, f, -1, conv_unit, -1)};
    shuffle2(G, args);
    int q = step_add(G, "convert", '*', args, 2, e, G->u, sn, "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
    return 0;
}

// "Ann has 4 boxes of marbles, with 6 marbles in each box": a * b.
static void start_rate(Gen *G) {
    int e = new_name(G);
    Slots s = {.E = name_str(e), .a = gen_int(G, 2, 10), .b = gen_int(G, 2, G->maxop)};
    char ua[TASK_NAME_LEN], ub[TASK_NAME_LEN];
    fill(G, G->verb->rate_a, &s, ua, sizeof ua);
    fill(G, G->verb->rate_b, &s, ub, sizeof ub);
    int sn = sent_add(G, G->verb->rate, &s);
    int args[2] = {q_add(G, TQ_GIVEN, s.a, e, ua, sn), q_add(G, TQ_GIVEN, s.b, e, ub, sn)};
    shuffle2(G, args);
    int q = step_add(G, "rate", '*', args, 2, e, G->u, sn, "{E} {V} {0} {op} {1} = {=} {u}.", &s);
    continue_chain(G, q, q_plain, &s);
}

// ---------------------------------------------------------------------------
// Endings: the question. Each sets g.target.

// The question about the chain's last value (set by the last relation).
static void end_plain(Gen *G) { G->g.target = G->cur; }

// "How many do B and C (and D) have together?": the sum of n live entities.
static void end_total(Gen *G, int n) {
    int args[3] = {G->cur, other_entity(G, -1, -1), 0};
    if (n == 3) args[2] = other_entity(G, args[1], -1);
    for (int i = n - 1; i > 0; i--) { // shuffle
        int j = (int)gen_int(G, 0, i), t = args[i];
        args[i] = args[j], args[j] = t;
    }
    Slots s = {.B = name_str(G->name_of[args[0]]), .C = name_str(G->name_of[args[1]]),
               .D = n == 3 ? name_str(G->name_of[args[2]]) : ""};
    static const char *how[] = {"together?", "altogether?", "in total?"};
    char q[GEN_SENT_LEN];
    snprintf(q, sizeof q, "How many {u} {auxp} %s {base} %s", n == 3 ? "{B}, {C} and {D}" : "{B} and {C}",
             pick(G, how, 3));
    fill(G, q, &s, G->question, sizeof G->question);
    const char *line = n == 3 ? "Together they {Vp} {0} {op} {1} {op} {2} = {=} {u}."
                              : "Together they {Vp} {0} {op} {1} = {=} {u}.";
    G->g.target = step_add(G, "total", '+', args, n, -1, G->u, GEN_QUESTION, line, &s);
    snprintf(G->g.quantities[G->g.target].entity, TASK_NAME_LEN, "together");
}

// "How many more does A have than B?": the larger live value minus a smaller one.
static void end_difference(Gen *G) {
    int other = other_entity(G, -1, val(G, G->cur));
    int args[2] = {G->cur, other};
    if (val(G, other) > val(G, G->cur)) args[0] = other, args[1] = G->cur;
    Slots s = {.E = name_str(G->name_of[args[0]]), .B = name_str(G->name_of[args[1]])};
    fill(G, "How many more {u} {aux} {E} {base} than {B}?", &s, G->question, sizeof G->question);
    G->g.target = step_add(G, "difference", '-', args, 2, G->name_of[args[0]], G->u, GEN_QUESTION,
                           "{E} {V} {0} {op} {1} = {=} more {u} than {B}.", &s);
}

// "How many dozen / hours / cents?": cur in another unit; -1 when it does not divide.
static int end_convert(Gen *G) {
    int64_t c = val(G, G->cur);
    GenTheme t = G->theme;
    int64_t f = t == THEME_ITEMS ? 12 : t == THEME_TIME ? 60 : 100;
    if ((t != THEME_MONEY && c % f != 0) || (t == THEME_MONEY && c * f > G->cap)) return -1;
    char unit[TASK_NAME_LEN], conv[TASK_NAME_LEN];
    snprintf(unit, sizeof unit, t == THEME_ITEMS ? "dozen %s" : t == THEME_TIME ? "hours" : "cents", G->u);
    snprintf(conv, sizeof conv, t == THEME_ITEMS ? "%s per dozen" : t == THEME_TIME ? "minutes per hour" : "cents per dollar", G->u);
    int e = G->name_of[G->cur];
    Slots s = {.E = name_str(e)};
    char q[GEN_SENT_LEN], line[GEN_SENT_LEN];
    snprintf(q, sizeof q, "How many %s {aux} {E} {base}?", unit);
    snprintf(line, sizeof line, "{E} {V} {0} {op} {1} = {=} %s.", unit);
    fill(G, q, &s, G->question, sizeof G->question);
    int args[2] = {G->cur, q_add(G, TQ_CONVERSION, f, -1, conv, -1)};
    G->g.target = step_add(G, "convert", t == THEME_MONEY ? '*' : '/', args, 2, e, unit, GEN_QUESTION, line, &s);
    return 0;
}

// The ending with `budget` operations.
static void end_problem(Gen *G, int budget) {
    if (budget == 0) end_plain(G);
    else if (budget == 2) end_total(G, 3);
    else {
        int r = (int)gen_int(G, 0, 2);
        if (r == 2 && end_convert(G) == 0) return;
        if (r == 1) end_difference(G);
        else end_total(G, 2);
    }
}

// ---------------------------------------------------------------------------
// Distractors: sentences with numbers that no step needs.

// The first sentence that mentions entity e.
static int first_mention(const Gen *G, int e) {
    int first = G->n_sent;
    for (int q = 0; q < G->g.n_quantities; q++) {
        int sn = G->g.quantities[q].sentence;
        if (G->name_of[q] == e && sn >= 0 && sn < first) first = sn;
    }
    return first;
}

static void insert_sentence(Gen *G, int pos, const char *text) {
    LM_CHECK(G->n_sent < GEN_MAX_SENT, "gen: too many sentences");
    memmove(G->sent[pos + 1], G->sent[pos], (size_t)(G->n_sent - pos) * GEN_SENT_LEN);
    snprintf(G->sent[pos], GEN_SENT_LEN, "%s", text);
    G->n_sent++;
    for (int q = 0; q < G->g.n_quantities; q++)
        if (G->g.quantities[q].sentence >= pos) G->g.quantities[q].sentence++;
}

// Another person's amount, someone's other item, or someone's age.
static void add_distractor(Gen *G) {
    int kind = (int)gen_int(G, 0, 2), q0 = (int)gen_int(G, 0, G->g.n_quantities - 1);
    while (G->name_of[q0] < 0) q0 = (q0 + 1) % G->g.n_quantities;
    int e = kind == 0 ? new_name(G) : G->name_of[q0];
    int pos = kind == 0 ? (int)gen_int(G, 0, G->n_sent) : (int)gen_int(G, first_mention(G, e) + 1, G->n_sent);
    if (pos > G->n_sent) pos = G->n_sent;
    const char *other = G->u;
    while (G->theme == THEME_ITEMS && strcmp(other, G->u) == 0) other = pick(G, gen_items, GEN_N_ITEMS);
    char tmpl[GEN_SENT_LEN], text[GEN_SENT_LEN];
    const char *unit = kind == 0 ? G->u : "years old";
    Slots s = {.E = name_str(e), .a = gen_int(G, 2, G->maxop)};
    if (kind == 1 && G->theme == THEME_ITEMS) {
        snprintf(tmpl, sizeof tmpl, "{E} also {V} {a} %s.", other);
        unit = other;
    } else if (kind > 0) {
        s.a = gen_int(G, 6, G->maxop < 80 ? G->maxop : 80);
        snprintf(tmpl, sizeof tmpl, "{E} is {a} years old.");
    } else {
        snprintf(tmpl, sizeof tmpl, "{E} {V} {a} {u}.");
    }
    fill(G, tmpl, &s, text, sizeof text);
    insert_sentence(G, pos, text);
    int q = q_add(G, TQ_GIVEN, s.a, e, unit, pos);
    G->g.distractors[G->g.n_distractors++] = q;
}

// ---------------------------------------------------------------------------
// Driver

TaskSplit gen_text_split(const char *question) {
    uint64_t h = 1469598103934665603ULL; // FNV-1a 64
    for (const unsigned char *p = (const unsigned char *)question; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return h % GEN_TEST_BUCKETS == 0 ? TASK_SPLIT_TEST : TASK_SPLIT_TRAIN;
}

int64_t gen_max_stated(const TaskGraph *g) {
    int64_t m = 0;
    for (int s = 0; s < g->n_steps; s++)
        for (int k = 0; k < g->steps[s].n_args; k++) {
            const TaskQuantity *q = &g->quantities[g->steps[s].args[k]];
            if ((q->kind == TQ_GIVEN || q->kind == TQ_CONST) && q->value > m) m = q->value;
        }
    return m;
}

static void gen_setup(Gen *G, const GenParams *p, TaskSplit split, int64_t index, int attempt) {
    memset(G, 0, sizeof *G);
    G->p = p;
    G->ctr = ((uint64_t)split << 60) | ((uint64_t)index << 22) | ((uint64_t)attempt << 12);
    G->ctr_end = G->ctr + GEN_DRAWS_PER_ATTEMPT;
    G->maxop = split == TASK_SPLIT_OOD ? p->ood_max_operand : p->max_operand;
    G->cap = GEN_CAP_FACTOR * G->maxop;
    for (int q = 0; q < TASK_MAX_QUANTITIES; q++) G->name_of[q] = -1;
    int r = (int)gen_int(G, 0, 3);
    G->theme = r < 2 ? THEME_ITEMS : r == 2 ? THEME_TIME : THEME_MONEY;
    if (G->theme == THEME_ITEMS) G->verb = &verbs_items[gen_int(G, 0, N_OF(verbs_items) - 1)];
    if (G->theme == THEME_TIME) G->verb = &verbs_time[gen_int(G, 0, N_OF(verbs_time) - 1)];
    if (G->theme == THEME_MONEY) G->verb = &verbs_money[gen_int(G, 0, N_OF(verbs_money) - 1)];
    G->u = G->theme == THEME_ITEMS ? pick(G, gen_items, GEN_N_ITEMS) : G->theme == THEME_TIME ? "minutes" : "dollars";
    int b = (int)gen_int(G, 0, N_OF(gen_boxes) - 1);
    G->boxes = gen_boxes[b][0], G->box = gen_boxes[b][1];
}

// Operations left for the ending: 0 (plain), 1 (total of two, difference, conversion) or
// 2 (total of three), at most left.
static int ending_budget(Gen *G, int left) {
    int w0 = 4, w1 = left >= 1 ? 4 : 0, w2 = left >= 2 ? 1 : 0;
    int r = (int)gen_int(G, 0, w0 + w1 + w2 - 1);
    return r < w0 ? 0 : r < w0 + w1 ? 1 : 2;
}

// One try at a problem of split; 0 when it has the drawn number of operations and its
// stated numbers fit the split.
static int gen_attempt(Gen *G, const GenParams *p, TaskSplit split, int64_t index, int attempt) {
    gen_setup(G, p, split, index, attempt);
    int ood = split == TASK_SPLIT_OOD;
    int n = (int)gen_int(G, ood ? p->ood_min_ops : p->min_ops, ood ? p->ood_max_ops : p->max_ops);
    int r = (int)gen_int(G, 0, 9);
    if (r < 2 && G->theme != THEME_MONEY) start_big(G);
    else if (r < 4) start_rate(G);
    else start_plain(G);
    int left = n - G->ops, budget = ending_budget(G, left);
    for (int i = 0; i < left - budget && !G->fail; i++)
        if (chain_step(G)) return -1;
    end_problem(G, budget);
    for (int i = 0; i < 2 && !G->fail && gen_chance(G, p->distractor_prob); i++) add_distractor(G);
    if (G->fail || G->ops != n) return -1;
    int64_t m = gen_max_stated(&G->g);
    return (ood ? m > p->max_operand : m <= p->max_operand) ? 0 : -1;
}

// The question: the statements, then the question sentence.
static char *gen_question_text(Gen *G) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    LM_CHECK(m, "gen: open_memstream failed");
    for (int i = 0; i < G->n_sent; i++) fprintf(m, "%s ", G->sent[i]);
    fputs(G->question, m);
    fclose(m);
    return buf;
}

// One line per step, then "The answer is: X".
static char *gen_solution_text(const TaskGraph *g) {
    char *buf = NULL, line[512];
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    LM_CHECK(m, "gen: open_memstream failed");
    for (int s = 0; s < g->n_steps; s++) {
        const TaskStep *st = &g->steps[s];
        int64_t ops[TASK_MAX_ARGS];
        for (int k = 0; k < st->n_args; k++) ops[k] = g->quantities[st->args[k]].value;
        LM_CHECK(tasks_render_step(st, ops, st->op, g->quantities[st->out].value, line, sizeof line) >= 0,
                 "gen: step line too long");
        fprintf(m, "%s\n", line);
    }
    fprintf(m, "The answer is: %lld", (long long)g->quantities[g->target].value);
    fclose(m);
    return buf;
}

static void gen_fill_problem(Gen *G, TaskSplit split, int64_t index, char *question, TaskProblem *out) {
    for (int q = 0; q < G->g.n_quantities; q++)
        if (G->g.quantities[q].sentence == GEN_QUESTION) G->g.quantities[q].sentence = G->n_sent;
    char buf[64];
    memset(out, 0, sizeof *out);
    snprintf(buf, sizeof buf, "%s-%lld", tasks_split_name(split), (long long)index);
    out->id = lm_strdup(buf);
    out->question = question;
    snprintf(buf, sizeof buf, "%lld", (long long)G->g.quantities[G->g.target].value);
    out->answer = lm_strdup(buf);
    out->solution = gen_solution_text(&G->g);
    out->split = lm_strdup(tasks_split_name(split));
    out->ops = G->ops;
    out->graph = lm_malloc(sizeof(TaskGraph));
    *out->graph = G->g;
}

int gen_problem(const GenParams *p, TaskSplit split, int64_t index, TaskProblem *out) {
    if (index < 0 || index >= ((int64_t)1 << 38) || split < 0 || split >= TASK_N_SPLITS) return -1;
    Gen *G = lm_malloc(sizeof(Gen));
    int rc = -1;
    for (int a = 0; a < GEN_MAX_ATTEMPTS && rc != 0; a++) {
        if (gen_attempt(G, p, split, index, a)) continue;
        char *q = gen_question_text(G);
        if (split != TASK_SPLIT_OOD && gen_text_split(q) != split) {
            free(q);
            continue;
        }
        gen_fill_problem(G, split, index, q, out);
        rc = 0;
    }
    free(G);
    return rc;
}
