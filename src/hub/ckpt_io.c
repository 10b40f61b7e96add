// hub/ckpt_io: the model's parameters and optimizer moments as checkpoint tensors. Every
// rank writes an equal share of each tensor (the optimizer moments: its own slice when they
// are sharded) and reads the whole parameters and the moments it keeps.
#include "lemma/hub.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Host copies of the backend buffers (the same memory where the backend's is host memory).
typedef struct {
    float *params, *m, *v;
    int owned; // 1 when these are host mirrors of device memory
} HostState;

static HostState host_state(const Model *m) {
    HostState h = {m->params, m->m, m->v, 0};
    if (m->be->host_memory) return h;
    size_t np = m->layout.n_params, no = m->opt_hi - m->opt_lo;
    h.params = lm_malloc(np * sizeof(float));
    h.m = lm_malloc((no ? no : 1) * sizeof(float));
    h.v = lm_malloc((no ? no : 1) * sizeof(float));
    h.owned = 1;
    return h;
}

static void host_pull(const Model *m, HostState *h) {
    if (!h->owned) return;
    Backend *be = m->be;
    size_t no = m->opt_hi - m->opt_lo;
    be->download(be, h->params, m->params, m->layout.n_params * sizeof(float));
    be->download(be, h->m, m->m, no * sizeof(float));
    be->download(be, h->v, m->v, no * sizeof(float));
}

static void host_push(Model *m, HostState *h) {
    Backend *be = m->be;
    size_t no = m->opt_hi - m->opt_lo;
    if (h->owned) {
        be->upload(be, m->params, h->params, m->layout.n_params * sizeof(float));
        be->upload(be, m->m, h->m, no * sizeof(float));
        be->upload(be, m->v, h->v, no * sizeof(float));
    }
    if (m->cparams != (void *)m->params)
        be->cast_to_act(be, m->cparams, m->params, m->layout.n_params);
    be->sync(be);
}

static void host_free(HostState *h) {
    if (h->owned) free(h->params), free(h->m), free(h->v);
}

static void add_tensor(CkptTensor *t, const char *group, const ParamView *v, size_t lo,
                       size_t hi, float *data) {
    t->group = group;
    t->name = v->name;
    t->ndim = v->ndim;
    t->shape[0] = v->shape[0];
    t->shape[1] = v->ndim == 2 ? v->shape[1] : 0;
    t->lo = lo, t->hi = hi, t->data = data;
}

// The tensors of the model and optimizer. saving: each rank's equal share (moments: the
// slice it keeps when sharded); loading: whole parameters and the moments it keeps.
static CkptTensor *model_tensors(const Model *m, const HostState *h, int saving, int *n_out) {
    const ParamLayout *pl = &m->layout;
    CkptTensor *t = lm_calloc(3 * (size_t)pl->n_views, sizeof(CkptTensor));
    int n = 0, sharded = m->opt_lo != 0 || m->opt_hi != pl->n_params;
    for (int i = 0; i < pl->n_views; i++) {
        const ParamView *v = &pl->views[i];
        size_t share_lo = v->numel * dist.rank / dist.size;
        size_t share_hi = v->numel * (dist.rank + 1) / dist.size;
        size_t lo = saving ? share_lo : 0, hi = saving ? share_hi : v->numel;
        add_tensor(&t[n++], "model/params", v, lo, hi, h->params + v->offset + lo);
        if (sharded) { // this rank's moments: the tensor's part inside [opt_lo, opt_hi)
            size_t a = v->offset > m->opt_lo ? v->offset : m->opt_lo;
            size_t b = v->offset + v->numel < m->opt_hi ? v->offset + v->numel : m->opt_hi;
            lo = b > a ? a - v->offset : 0, hi = b > a ? b - v->offset : 0;
        }
        size_t base = v->offset + lo - m->opt_lo;
        add_tensor(&t[n++], "optim/m", v, lo, hi, h->m + (hi > lo ? base : 0));
        add_tensor(&t[n++], "optim/v", v, lo, hi, h->v + (hi > lo ? base : 0));
    }
    *n_out = n;
    return t;
}

int hub_ckpt_save(Model *m, const char *run_dir, CkptMeta *meta, int keep, char *err,
                  size_t err_len) {
    HostState h = host_state(m);
    host_pull(m, &h);
    int n;
    CkptTensor *t = model_tensors(m, &h, 1, &n);
    char *json = model_config_json(&m->cfg);
    meta->model_json = json;
    dist_watch("checkpoint write"); // HDF5's collectives inside count as one operation
    int rc = ckpt_save(run_dir, meta, t, n, keep, err, err_len);
    dist_watch(NULL);
    meta->model_json = NULL;
    free(json);
    free(t);
    host_free(&h);
    return rc;
}

int hub_ckpt_resume(Model *m, const char *run_dir, CkptMeta *meta, char *path, size_t path_len,
                    char *err, size_t err_len) {
    model_alloc_moments(m);
    HostState h = host_state(m);
    int n;
    CkptTensor *t = model_tensors(m, &h, 0, &n);
    int rc = ckpt_load_latest(run_dir, meta, t, n, path, path_len, err, err_len);
    if (rc == 0) host_push(m, &h);
    free(t);
    host_free(&h);
    return rc;
}

int hub_ckpt_load_params(Model *m, const char *run_dir, const char *file, char *path,
                         size_t path_len, char *err, size_t err_len) {
    const ParamLayout *pl = &m->layout;
    float *host = lm_malloc(pl->n_params * sizeof(float));
    CkptTensor *t = lm_calloc((size_t)pl->n_views, sizeof(CkptTensor));
    for (int i = 0; i < pl->n_views; i++)
        add_tensor(&t[i], "model/params", &pl->views[i], 0, pl->views[i].numel,
                   host + pl->views[i].offset);
    int rc;
    if (file) {
        rc = ckpt_load(file, NULL, t, pl->n_views, err, err_len);
        snprintf(path, path_len, "%s", file);
    } else {
        rc = ckpt_load_latest(run_dir, NULL, t, pl->n_views, path, path_len, err, err_len);
    }
    if (rc == 0) model_set_params(m, host);
    free(t);
    free(host);
    return rc;
}
