// hub/hub_internal.h: what the files of src/hub share (not a public header).
#ifndef LEMMA_HUB_INTERNAL_H
#define LEMMA_HUB_INTERNAL_H

#include "lemma/hub.h"

// hub/from.c: the model of model.from on a new backend (h->imported, h->source set).
// After the memory plan for `use` passed (hub_memory_check).
int hub_from_open(HubModel *h, const Config *cfg, unsigned use, char *err, size_t err_len);
// The imported weights again (after a checkpoint's replaced them).
int hub_from_reload(HubModel *h, char *err, size_t err_len);
// The tokenizer, chat template and stop ids of model.from.
int hub_from_tokenizer(Tokenizer *tok, const Config *cfg, char *err, size_t err_len);

#endif
