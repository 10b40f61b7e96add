// hub/lock: one job per run directory. The commands that write a run directory (run, train,
// sample, build) take RUN_DIR/.lock at start: a file created exclusively by rank 0 that names
// the host, the pid and the Slurm job. A lock whose holder is a dead process on this host, or
// that the same Slurm job took before a requeue, is taken over; any other is a refusal that
// names the holder. The lock goes when the command ends.
#include "hub_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char lock_path[4200]; // the lock this process holds ("" none)

typedef struct {
    char host[256], job[64];
    long pid;
} LockHolder;

static void this_holder(LockHolder *h) {
    memset(h, 0, sizeof *h);
    if (gethostname(h->host, sizeof h->host - 1) != 0) snprintf(h->host, sizeof h->host, "?");
    const char *job = getenv("SLURM_JOB_ID");
    snprintf(h->job, sizeof h->job, "%s", job ? job : "");
    h->pid = (long)getpid();
}

// "host H pid P slurm_job J" (J empty outside Slurm); 0 read, -1 not a lock file.
static int read_holder(const char *path, LockHolder *h) {
    memset(h, 0, sizeof *h);
    char *text = lm_read_file(path, NULL);
    int ok = text && sscanf(text, "host %255s pid %ld slurm_job %63s", h->host, &h->pid, h->job) >= 2;
    if (ok && !strcmp(h->job, "-")) h->job[0] = 0;
    free(text);
    return ok ? 0 : -1;
}

// Is pid a running lemma process on this host? Not when it is gone, a zombie (killed, not yet
// reaped), or a reused pid of another program.
static int lemma_running(long pid) {
    if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) return 0;
    char path[64], stat[512] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1; // no /proc: alive as far as we can tell
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *paren = strrchr(stat, ')'); // "pid (comm) S ..."
    if (paren && paren[1] == ' ' && paren[2] == 'Z') return 0;
    return strstr(stat, "(lemma") != NULL;
}

// Can this process take over the lock of h? A requeue of the same Slurm job, or a holder on
// this host that is no longer running.
static int stale(const LockHolder *h, const LockHolder *me) {
    if (me->job[0] && !strcmp(h->job, me->job)) return 1;
    return !strcmp(h->host, me->host) && !lemma_running(h->pid);
}

// Rank 0: creates the lock file (taking over a stale one once); 0, or -1 with err.
static int lock_take(const char *run_dir, char *err, size_t err_len) {
    LockHolder me, h;
    this_holder(&me);
    if (lm_mkdir_p(run_dir) != 0) {
        snprintf(err, err_len, "cannot create the run directory '%s': %s", run_dir, strerror(errno));
        return -1;
    }
    snprintf(lock_path, sizeof lock_path, "%s/.lock", run_dir);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            char line[512];
            time_t now = time(NULL);
            int n = snprintf(line, sizeof line, "host %s pid %ld slurm_job %s started %s", me.host,
                             me.pid, me.job[0] ? me.job : "-", ctime(&now));
            int ok = write(fd, line, (size_t)n) == n;
            close(fd);
            if (ok) return 0;
            unlink(lock_path);
            break;
        }
        if (errno != EEXIST) break;
        if (read_holder(lock_path, &h) == 0 && !stale(&h, &me)) {
            snprintf(err, err_len, "the run directory %s is in use by another job: pid %ld on host "
                     "%s%s%s (%s); wait for it, choose another run.dir, or remove the lock file if "
                     "that job is gone", run_dir, h.pid, h.host, h.job[0] ? ", Slurm job " : "",
                     h.job, lock_path);
            lock_path[0] = 0;
            return -1;
        }
        lm_warn("run directory %s: taking over the lock of a job that is gone (%s)", run_dir, lock_path);
        unlink(lock_path);
    }
    snprintf(err, err_len, "cannot create the lock file %s: %s", lock_path, strerror(errno));
    lock_path[0] = 0;
    return -1;
}

int hub_run_lock(const char *run_dir, char *err, size_t err_len) {
    int bad = dist.rank == 0 && lock_take(run_dir, err, err_len) != 0;
    return dist_agree(bad, err, err_len) ? -1 : 0;
}

void hub_run_unlock(void) {
    if (dist.rank != 0 || !lock_path[0]) return;
    LockHolder me, h;
    this_holder(&me);
    if (read_holder(lock_path, &h) == 0 && h.pid == me.pid) unlink(lock_path); // still ours
    lock_path[0] = 0;
}
