/*
 * collect_int.h - private interface shared by the files of src/collect/.
 *
 * Batch lifecycle and text exposition (batch.c), the reusable file reader and the in-place
 * tokenisers every collector parses with (procfile.c), and the per-file collector tables.
 */
#ifndef VIGIL_COLLECT_INT_H
#define VIGIL_COLLECT_INT_H

#include "collect/collect.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- batches (batch.c) ---- */

/* Hard cap on one batch's memory: a runaway collector (a million mounts) fails with
 * VIGIL_ELIMIT instead of eating the host. */
#define COLLECT_BATCH_MAX_BYTES (64u << 20)

/* Allocates an empty batch for `collector` (the name must outlive it). Freed with
 * collect_batch_free(). NULL when out of memory. */
collect_batch_t *collect_batch_new(const char *collector);
void collect_batch_free(collect_batch_t *b);

/* Empties the batch for the next run, keeping every allocation. */
void collect_batch_reset(collect_batch_t *b, double now);

/* Empties the batch and frees its memory, remembering how much it held: the next run's first
 * allocations are that size. The scheduler trims a collector's work batch after each run. */
void collect_batch_trim(collect_batch_t *b);

/* Groups the samples by family (stable). Call once after collect() succeeded. 0 or
 * VIGIL_ENOMEM. */
int collect_batch_finish(collect_batch_t *b);

/* Appends the batch (HELP, TYPE, samples) in text format 0.0.4 or, when `openmetrics`, in
 * OpenMetrics 1.0 without "# EOF" (see collect_expose_openmetrics). Only after finish. */
int collect_batch_expose(const collect_batch_t *b, bool openmetrics, buf_t *out);

/* Appends the HELP and TYPE lines of family `name` of `type` in either format. */
int collect_put_family_header(buf_t *out, const char *name, const char *help,
                              collect_type_t type, bool openmetrics);

/* Appends `s` escaped as a label value (\\, \", \n). */
int collect_put_label_value(buf_t *out, const char *s);

/* ---- file reading and tokenising (procfile.c) ---- */

/* One reusable read buffer. It grows to the largest file read so far (up to max), then stays:
 * steady-state reads allocate nothing. */
typedef struct collect_file {
    char  *data;
    size_t len;
    size_t cap;
    size_t max;
} collect_file_t;

#define COLLECT_FILE_MAX (16u << 20)

void collect_file_init(collect_file_t *f);
void collect_file_free(collect_file_t *f);

/* Reads root/rel whole into f (NUL-terminated). 0, VIGIL_EIO (detail in err; *missing, when
 * not NULL, tells whether the file or a parent directory does not exist) or VIGIL_ELIMIT. */
int collect_file_read(collect_file_t *f, const char *root, const char *rel, bool *missing,
                      vigil_error_t *err);

/* The state of the collectors that need nothing but their environment and one read buffer.
 * collect_simple_init allocates it (freed by collect_simple_destroy). */
typedef struct collect_simple {
    const collect_env_t *env;
    collect_file_t       file;
} collect_simple_t;

int collect_simple_init(void **state, const collect_env_t *env, vigil_error_t *err);
void collect_simple_destroy(void *state);

/* Returns the next line of the text at *pos (NUL-terminated in place, newline removed) and
 * advances *pos, or NULL at the end. */
char *collect_next_line(char **pos);

/* Splits `line` in place at runs of spaces and tabs into at most `max` NUL-terminated fields
 * and returns how many it found; whatever follows the max-th field is ignored. */
size_t collect_split(char *line, char **fields, size_t max);

/* Parses an unsigned decimal integer as a double: exact up to 2^53, rounded beyond, never
 * overflowing (a counter at 2^64-1 reads as 1.8446744073709552e19). false when s has no digit
 * or trailing junk. */
bool collect_parse_u(const char *s, double *out);

/* Parses a decimal number (strtod syntax) with nothing after it. */
bool collect_parse_d(const char *s, double *out);

/* Finds "total=N" (µs) on the PSI line of `kind` ("some"/"full") of a pressure file's text,
 * without modifying it (io and memory take two values from one read), as seconds. */
bool collect_psi_total(const char *text, const char *kind, double *out);

/* Compiles an extended regex for an option; VIGIL_EINVAL naming the option when bad. */
int collect_regex_compile(regex_t *re, const char *pattern, const char *option,
                          vigil_error_t *err);

/* A filter pattern matched against the same names run after run (pattern.c): each name's
 * verdict is remembered, and the regex is compiled only while a run meets names it has not
 * seen, so a steady-state run holds no compiled regex (glibc's regexec grows a DFA of a few
 * KiB per state inside the regex_t). Members are private. */
typedef struct collect_verdict {
    uint32_t hash;
    uint32_t off;    /* 1 + the name's offset in the pool; 0: empty slot */
    bool     match;
} collect_verdict_t;

typedef struct collect_pattern {
    char              *source;
    regex_t            re;
    bool               compiled;
    collect_verdict_t *slots;
    size_t             cap, n;
    char              *pool;
    size_t             pool_len, pool_cap;
} collect_pattern_t;

/* Checks that `pattern` compiles (VIGIL_EINVAL naming `option` when not) and keeps a copy.
 * Freed with collect_pattern_free (also after a failed init). */
int collect_pattern_init(collect_pattern_t *p, const char *pattern, const char *option,
                         vigil_error_t *err);
/* Sets *match to whether `name` matches. 0 or VIGIL_ENOMEM. */
int collect_pattern_match(collect_pattern_t *p, const char *name, bool *match);
/* Frees the regex a run compiled; call at the end of every run that matched. */
void collect_pattern_release(collect_pattern_t *p);
void collect_pattern_free(collect_pattern_t *p);

/* The state every collector that reads one procfs file and matches its keys against one
 * pattern starts with (diskstats, netdev, vmstat): the file's reusable buffer and the
 * pattern. */
typedef struct collect_filtered_file {
    const collect_env_t *env;
    collect_file_t       file;
    collect_pattern_t    pattern;
} collect_filtered_file_t;

/*
 * Allocates a zeroed state of `size` bytes whose first member is a collect_filtered_file_t
 * and compiles `pattern` (the option's value, or `fallback` when NULL) into it. On success
 * *state is owned by the collector and freed by collect_filtered_file_free().
 */
int collect_filtered_file_new(void **state, size_t size, const collect_env_t *env,
                              const char *pattern, const char *fallback, const char *option,
                              vigil_error_t *err);

/* Frees such a state (NULL is a no-op); members after the first are the caller's to free
 * beforehand. Usable as a collector's destroy hook. */
void collect_filtered_file_free(void *state);

/* Joins root and rel into out (cap bytes). VIGIL_ERANGE when it does not fit. */
int collect_path(char *out, size_t cap, const char *root, const char *rel, vigil_error_t *err);

/* Current wall clock and statfs through env->sys, falling back to the real calls. */
double collect_now(const collect_env_t *env);
int collect_statfs(const collect_env_t *env, const char *path, collect_statfs_t *out);
int collect_getpid(const collect_env_t *env);
long collect_page_size(const collect_env_t *env);

/* ---- data shared between collectors (shared.c) ----
 *
 * Collectors may run concurrently and keep their state private; the one thing one of
 * them needs from another is the GPU memory of each process. The GPU collector publishes the
 * list it just read (replacing the previous one) and the process collector looks pids up in
 * it, both under the area's mutex. A value is therefore at most one GPU interval old, and
 * a pid the GPU collector has not seen (or no GPU collector at all) has no entry. */
typedef struct collect_gpu_proc {
    uint32_t pid;
    double   bytes;   /* summed over all GPUs */
} collect_gpu_proc_t;

/* Creates the area; freed with collect_shared_free(). NULL when out of memory. */
collect_shared_t *collect_shared_new(void);
void collect_shared_free(collect_shared_t *sh);

/* Replaces the published GPU process list with a copy of procs[0..n). 0 or VIGIL_ENOMEM (the
 * previous list is then dropped, so no stale value survives). */
int collect_shared_gpu_publish(collect_shared_t *sh, const collect_gpu_proc_t *procs, size_t n);

/* GPU memory of `pid` from the latest published list; false when it has none. */
bool collect_shared_gpu_lookup(collect_shared_t *sh, uint32_t pid, double *bytes);

/* ---- collector tables (one per source file) ---- */
extern const collect_def_t collect_def_cpu;
extern const collect_def_t collect_def_stat;
extern const collect_def_t collect_def_meminfo;
extern const collect_def_t collect_def_vmstat;
extern const collect_def_t collect_def_loadavg;
extern const collect_def_t collect_def_diskstats;
extern const collect_def_t collect_def_filesystem;
extern const collect_def_t collect_def_netdev;
extern const collect_def_t collect_def_pressure;
extern const collect_def_t collect_def_filefd;
extern const collect_def_t collect_def_uname;
extern const collect_def_t collect_def_os;
extern const collect_def_t collect_def_time;
extern const collect_def_t collect_def_process;
extern const collect_def_t collect_def_cgroup;
extern const collect_def_t collect_def_gpu;

#endif /* VIGIL_COLLECT_INT_H */
