// tasks/prompt: the one prompt format shared by training, sampling and evaluation, so that a
// model is always asked the way it was taught. data.prompt names it, once per process
// (tasks_prompt_configure): "qa" (the built-in task's "Question: ...\nAnswer: "), "cot" (the
// standard chain-of-thought instruction of instruct models: reason step by step, put the
// final answer within \boxed{}), "cot-fewshot" (four worked examples first), or a file whose
// {question} is replaced. The chat template of the model wraps the result (tok/prompt.c).
#include "lemma/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *prompt_template; // NULL: "qa"

#define COT_INSTRUCTION "Please reason step by step, and put your final answer within \\boxed{}."

// Written for this project: short problems of the kinds in GSM8K and MATH.
static const char fewshot[] =
    "Problem: A baker makes 12 muffins per tray and bakes 5 trays. She sells 38 muffins. How "
    "many muffins are left?\n"
    "Solution: She bakes $12 \\times 5 = 60$ muffins. After selling 38, $60 - 38 = 22$ are "
    "left. The final answer is $\\boxed{22}$.\n\n"
    "Problem: What is the value of $\\frac{3}{4} + \\frac{1}{6}$?\n"
    "Solution: With the common denominator 12, $\\frac{9}{12} + \\frac{2}{12} = "
    "\\frac{11}{12}$. The final answer is $\\boxed{\\frac{11}{12}}$.\n\n"
    "Problem: Solve for $x$: $3x - 7 = 11$.\n"
    "Solution: Adding 7 to both sides gives $3x = 18$, so $x = 6$. The final answer is "
    "$\\boxed{6}$.\n\n"
    "Problem: How many positive divisors does 36 have?\n"
    "Solution: Since $36 = 2^2 \\cdot 3^2$, it has $(2+1)(2+1) = 9$ divisors. The final "
    "answer is $\\boxed{9}$.\n\n"
    "Problem: {question}\n"
    "Solution:";

int tasks_prompt_configure(const char *name, char *err, size_t err_len) {
    free(prompt_template);
    prompt_template = NULL;
    if (!name || !name[0] || !strcmp(name, "qa")) return 0;
    if (!strcmp(name, "cot")) {
        prompt_template = lm_strdup("{question}\n" COT_INSTRUCTION);
        return 0;
    }
    if (!strcmp(name, "cot-fewshot")) {
        prompt_template = lm_strdup(fewshot);
        return 0;
    }
    char *text = lm_read_file(name, NULL);
    if (!text || !strstr(text, "{question}")) {
        snprintf(err, err_len, "data.prompt '%s': %s", name,
                 text ? "the file has no {question}" : "not qa, cot, cot-fewshot or a readable file");
        free(text);
        return -1;
    }
    prompt_template = text;
    return 0;
}

char *tasks_prompt(const char *question) {
    if (!prompt_template) {
        size_t n = strlen(question) + 32;
        char *p = lm_malloc(n);
        snprintf(p, n, "Question: %s\nAnswer: ", question);
        return p;
    }
    const char *at = strstr(prompt_template, "{question}");
    size_t head = (size_t)(at - prompt_template), q = strlen(question);
    const char *tail = at + strlen("{question}");
    char *p = lm_malloc(head + q + strlen(tail) + 1);
    memcpy(p, prompt_template, head);
    memcpy(p + head, question, q);
    strcpy(p + head + q, tail);
    return p;
}
