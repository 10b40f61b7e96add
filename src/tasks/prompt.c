// tasks/prompt: the one prompt format shared by training, sampling and evaluation, so that a
// model is always asked the way it was taught.
#include "lemma/tasks.h"

#include <stdio.h>
#include <string.h>

char *tasks_prompt(const char *question) {
    size_t n = strlen(question) + 32;
    char *p = lm_malloc(n);
    snprintf(p, n, "Question: %s\nAnswer: ", question);
    return p;
}
