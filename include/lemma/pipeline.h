// pipeline: `lemma run CONFIG`, the whole method in one MPI job (docs/pipeline.md). The
// phases of pipeline.phases run in order (pretrain, sample, build, finetune, eval) on one
// model kept in memory; RUN_DIR/manifest.json records the finished ones, so a rerun or a
// requeued job skips them and resumes the running one from its checkpoint or its finished
// samples. Checkpoints of the two training phases live apart: RUN_DIR/pretrain/ckpt (the
// base model) and RUN_DIR/finetune/ckpt.
#ifndef LEMMA_PIPELINE_H
#define LEMMA_PIPELINE_H

#include "lemma/config.h"

#ifdef __cplusplus
extern "C" {
#endif

// Exit status: 0 finished, or stopped early by a signal or the time limit (rerun to go on;
// the log says which); 1 a phase failed; 2 bad input (config, data).
int pipeline_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
