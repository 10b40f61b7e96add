// lemma/errors: the error taxonomy of DESIGN.md (labels, one-line descriptions used in the
// model teacher's prompts and the docs, which types the symbolic teacher injects) and the
// training-record kinds.
#include "lemma/lemma.h"

#include <string.h>

static const struct {
    const char *name, *describe;
    int injectable;
} lemma_errors[LEMMA_N_ERRORS] = {
    {"calculation_error", "the operands and the operator are right but the result is wrong", 1},
    {"counting_error", "a term is left out of a sum or counted twice", 1},
    {"context_value_error", "a value is taken from the wrong entity or misread from the question", 1},
    {"previous_step_value_error", "a result of an earlier step is carried over wrongly", 1},
    {"unit_conversion_error", "a unit is converted with the wrong factor or the wrong way round", 1},
    {"operator_error", "the right numbers are combined with the wrong operation", 1},
    {"formula_confusion_error", "the step uses the wrong formula for the relation it computes", 0},
    {"missing_step", "a needed step is skipped and its input is used in place of its result", 1},
    {"contradictory_step", "a step contradicts what an earlier step established", 0},
    {"question_misinterpretation", "the solution answers another question than the one asked", 1},
    {"confusing_concept_error", "two concepts of the problem are mixed up", 0},
    {"hallucination", "the step uses a number that is neither given nor worked out", 1},
    {"nonsense_output", "the output is not a solution to the question", 0},
};

const char *lemma_error_name(LemmaErrorType t) {
    return t >= 0 && t < LEMMA_N_ERRORS ? lemma_errors[t].name : "none";
}

const char *lemma_error_describe(LemmaErrorType t) {
    return t >= 0 && t < LEMMA_N_ERRORS ? lemma_errors[t].describe : "";
}

int lemma_error_parse(const char *name) {
    for (int t = 0; t < LEMMA_N_ERRORS; t++)
        if (strcmp(name, lemma_errors[t].name) == 0) return t;
    return -1;
}

int lemma_error_injectable(LemmaErrorType t) {
    return t >= 0 && t < LEMMA_N_ERRORS && lemma_errors[t].injectable;
}

static const char *lemma_kinds[LEMMA_N_KINDS] = {"cot", "rft", "lemma_fix", "lemma_restart",
                                                 "lema_correction", "retry"};

const char *lemma_kind_name(LemmaKind k) {
    return k >= 0 && k < LEMMA_N_KINDS ? lemma_kinds[k] : "none";
}

int lemma_kind_parse(const char *name) {
    for (int k = 0; k < LEMMA_N_KINDS; k++)
        if (strcmp(name, lemma_kinds[k]) == 0) return k;
    return -1;
}

static const char *teacher_status_names[TEACHER_N_STATUS] = {
    "ok", "not_located", "not_injectable", "unconfirmed", "no_reference",
    "unparsed", "not_wrong", "wrong_answer",
};

const char *teacher_status_name(TeacherStatus s) {
    return s >= 0 && s < TEACHER_N_STATUS ? teacher_status_names[s] : "unknown";
}
