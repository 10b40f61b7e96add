// tasks/options: the tasks.* knobs of the built-in generator (operations, operand ranges,
// distractors, the ood split's) checked against each other.
#include "lemma/tasks.h"

#include <stdio.h>

int gen_params_from_config(GenParams *p, const Config *cfg, char *err, size_t len) {
    p->seed = (uint64_t)cfg_int(cfg, "run.seed");
    p->min_ops = (int)cfg_int(cfg, "tasks.min_ops");
    p->max_ops = (int)cfg_int(cfg, "tasks.max_ops");
    p->ood_min_ops = (int)cfg_int(cfg, "tasks.ood_min_ops");
    p->ood_max_ops = (int)cfg_int(cfg, "tasks.ood_max_ops");
    p->max_operand = cfg_int(cfg, "tasks.max_operand");
    p->ood_max_operand = cfg_int(cfg, "tasks.ood_max_operand");
    p->distractor_prob = cfg_float(cfg, "tasks.distractor_prob");
    const char *f = cfg->path;
    if (p->min_ops > p->max_ops)
        snprintf(err, len, "%s: tasks.min_ops = %d is larger than tasks.max_ops = %d", f, p->min_ops, p->max_ops);
    else if (p->ood_min_ops > p->ood_max_ops)
        snprintf(err, len, "%s: tasks.ood_min_ops = %d is larger than tasks.ood_max_ops = %d", f,
                 p->ood_min_ops, p->ood_max_ops);
    else if (p->ood_min_ops <= p->max_ops)
        snprintf(err, len, "%s: tasks.ood_min_ops = %d must be larger than tasks.max_ops = %d "
                 "(ood problems need more operations than any training problem)", f, p->ood_min_ops, p->max_ops);
    else if (p->ood_max_operand <= p->max_operand)
        snprintf(err, len, "%s: tasks.ood_max_operand = %lld must be larger than tasks.max_operand = "
                 "%lld (ood problems need larger numbers than any training problem)", f,
                 (long long)p->ood_max_operand, (long long)p->max_operand);
    else return 0;
    return 2;
}
