// ckpt/dir: the checkpoint directory RUN_DIR/ckpt with plain POSIX calls: finding the newest
// checkpoint (the `latest` pointer, else the highest step_%08ld.h5), publishing a written
// file (fsync, rename, then `latest` replaced atomically) and pruning to the last N. Built
// with or without HDF5.
#include "ckpt_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ckpt_path(char *buf, size_t len, const char *run_dir, const char *name) {
    if (!run_dir || !run_dir[0]) return -1;
    int w = snprintf(buf, len, "%s/ckpt%s%s", run_dir, name[0] ? "/" : "", name);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

// "step_" + at least 8 digits + ".h5": the step, or -1 for any other name (".step_*.tmp").
static long parse_step_name(const char *name) {
    if (strncmp(name, "step_", 5) != 0) return -1;
    const char *p = name + 5;
    size_t digits = strspn(p, "0123456789");
    if (digits < 8 || digits > 18 || strcmp(p + digits, ".h5") != 0) return -1;
    return strtol(p, NULL, 10);
}

static int is_regular_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int entry_newer_first(const void *a, const void *b) {
    long sa = ((const CkptEntry *)a)->step, sb = ((const CkptEntry *)b)->step;
    return sa < sb ? 1 : sa > sb ? -1 : 0;
}

int ckpt_list(const char *run_dir, CkptEntry **out) {
    *out = NULL;
    char dir[PATH_MAX];
    if (ckpt_path(dir, sizeof dir, run_dir, "") != 0) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step = parse_step_name(e->d_name);
        if (step < 0 || strlen(e->d_name) >= sizeof((*out)->name)) continue;
        if (n == cap) *out = lm_realloc(*out, (size_t)(cap = cap ? 2 * cap : 16) * sizeof **out);
        (*out)[n].step = step;
        snprintf((*out)[n].name, sizeof (*out)[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) qsort(*out, (size_t)n, sizeof **out, entry_newer_first);
    return n;
}

// The file name `latest` holds, when it is a valid checkpoint name of an existing file.
static int read_latest(const char *run_dir, char *name, size_t len) {
    char path[PATH_MAX];
    if (ckpt_path(path, sizeof path, run_dir, "latest") != 0) return -1;
    char *text = lm_read_file(path, NULL);
    if (!text) return -1;
    text[strcspn(text, " \t\r\n")] = 0;
    int ok = parse_step_name(text) >= 0 && strlen(text) < len;
    if (ok) snprintf(name, len, "%s", text);
    free(text);
    if (!ok || ckpt_path(path, sizeof path, run_dir, name) != 0) return -1;
    return is_regular_file(path) ? 0 : -1;
}

int ckpt_latest(const char *run_dir, char *path, size_t len) {
    char name[64];
    if (read_latest(run_dir, name, sizeof name) == 0) return ckpt_path(path, len, run_dir, name);
    CkptEntry *e;
    int n = ckpt_list(run_dir, &e);
    int rc = n > 0 ? ckpt_path(path, len, run_dir, e[0].name) : -1;
    free(e);
    return rc;
}

int ckpt_candidates(const char *run_dir, char ***out) {
    char name[64], path[PATH_MAX];
    long latest_step = -1;
    if (read_latest(run_dir, name, sizeof name) == 0) latest_step = parse_step_name(name);
    CkptEntry *e;
    int n = ckpt_list(run_dir, &e), k = 0;
    *out = lm_calloc((size_t)n + 1, sizeof(char *));
    if (latest_step >= 0 && ckpt_path(path, sizeof path, run_dir, name) == 0)
        (*out)[k++] = lm_strdup(path);
    for (int i = 0; i < n; i++) {
        if (latest_step >= 0 && e[i].step >= latest_step) continue;
        if (ckpt_path(path, sizeof path, run_dir, e[i].name) == 0) (*out)[k++] = lm_strdup(path);
    }
    free(e);
    return k;
}

static int make_one_dir(const char *path, char *msg, size_t len) {
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && !is_regular_file(path))) return 0;
    snprintf(msg, len, "cannot create directory '%s': %s", path, strerror(errno));
    return -1;
}

int ckpt_make_dir(const char *run_dir, char *msg, size_t len) {
    char path[PATH_MAX];
    if (ckpt_path(path, sizeof path, run_dir, "") != 0) {
        snprintf(msg, len, "run directory name too long: '%s'", run_dir);
        return -1;
    }
    // mkdir -p: every prefix ending before a '/', then the whole path.
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = make_one_dir(path, msg, len);
        *p = '/';
        if (rc != 0) return -1;
    }
    return make_one_dir(path, msg, len);
}

// Flushes a file or a directory to stable storage.
static int fsync_path(const char *path, int is_dir, char *msg, size_t len) {
    int fd = open(path, O_RDONLY | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0 || fsync(fd) != 0) {
        snprintf(msg, len, "cannot fsync '%s': %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int rename_path(const char *from, const char *to, char *msg, size_t len) {
    if (rename(from, to) == 0) return 0;
    snprintf(msg, len, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    return -1;
}

// Replaces RUN_DIR/ckpt/latest with NAME: written to latest.tmp, fsynced, renamed.
static int write_latest(const char *run_dir, const char *name, char *msg, size_t len) {
    char tmp[PATH_MAX], dst[PATH_MAX];
    ckpt_path(tmp, sizeof tmp, run_dir, "latest.tmp");
    ckpt_path(dst, sizeof dst, run_dir, "latest");
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(msg, len, "cannot write '%s': %s", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%s\n", name) < 0;
    bad |= fclose(f) != 0;
    if (bad) {
        snprintf(msg, len, "cannot write '%s': %s", tmp, strerror(errno));
        return -1;
    }
    if (fsync_path(tmp, 0, msg, len) != 0) return -1;
    return rename_path(tmp, dst, msg, len);
}

// Keeps the checkpoint of STEP and the keep - 1 newest with a lower step; deletes the older
// ones and stale .step_*.h5.tmp files of killed writers. Files with a higher step (left by a
// run that resumed from an older checkpoint) are kept: training overwrites them when it gets
// there again. Failures to delete are warnings.
static void prune(const char *run_dir, long step, int keep) {
    char path[PATH_MAX];
    CkptEntry *e;
    int n = ckpt_list(run_dir, &e), kept = 1;
    for (int i = 0; i < n && keep > 0; i++) {
        if (e[i].step >= step) continue;
        if (kept++ < keep) continue;
        if (ckpt_path(path, sizeof path, run_dir, e[i].name) == 0 && unlink(path) != 0)
            lm_warn("cannot delete old checkpoint '%s': %s", path, strerror(errno));
    }
    free(e);
    if (ckpt_path(path, sizeof path, run_dir, "") != 0) return;
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, ".step_", 6) != 0 || l < 4 || strcmp(de->d_name + l - 4, ".tmp"))
            continue;
        char tmp[PATH_MAX];
        if (ckpt_path(tmp, sizeof tmp, run_dir, de->d_name) == 0) unlink(tmp);
    }
    if (d) closedir(d);
}

int ckpt_publish(const char *run_dir, const char *tmp, long step, int keep, char *msg,
                 size_t len) {
    char name[64], dst[PATH_MAX], dir[PATH_MAX];
    snprintf(name, sizeof name, "step_%08ld.h5", step);
    if (ckpt_path(dst, sizeof dst, run_dir, name) != 0 || ckpt_path(dir, sizeof dir, run_dir, "")) {
        snprintf(msg, len, "run directory name too long: '%s'", run_dir);
        return -1;
    }
    // The file and `latest` move together: a second SIGTERM/SIGUSR1 (which exits at once)
    // waits until both are done, so that `latest` never names an older step than a complete
    // newer file.
    dist_signal_defer(1);
    int rc = fsync_path(tmp, 0, msg, len) != 0 || rename_path(tmp, dst, msg, len) != 0 ||
             fsync_path(dir, 1, msg, len) != 0 || write_latest(run_dir, name, msg, len) != 0 ||
             fsync_path(dir, 1, msg, len) != 0 ? -1 : 0;
    dist_signal_defer(0);
    if (rc == 0) prune(run_dir, step, keep);
    return rc;
}

void ckpt_meta_free(CkptMeta *meta) {
    if (!meta) return;
    free((char *)meta->config_text);
    free((char *)meta->model_json);
    meta->config_text = meta->model_json = NULL;
}

long ckpt_step_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    long step;
    char tail[8];
    if (sscanf(base, "step_%ld%7s", &step, tail) == 2 && strcmp(tail, ".h5") == 0) return step;
    return -1;
}
