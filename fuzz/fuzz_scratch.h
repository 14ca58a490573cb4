/*
 * fuzz_scratch.h - the scratch data directory of the store's fuzz targets.
 *
 * Made once per process (a fuzzer runs millions of inputs; a mkdtemp each would litter $TMPDIR
 * when the process is killed) and removed at exit. libFuzzer's entry point takes no context,
 * hence process-wide state.
 */
#ifndef VIGIL_FUZZ_SCRATCH_H
#define VIGIL_FUZZ_SCRATCH_H

/* "$TMPDIR/vigil-fuzz-<name>-XXXXXX" (or under /tmp), created on the first call; the same
 * static string on every later call. Aborts when it cannot be made. */
const char *fuzz_scratch_dir(const char *name);

/* Empties `dir` (files only, one level) and removes it; a missing dir is no error. */
void fuzz_remove_dir(const char *dir);

#endif /* VIGIL_FUZZ_SCRATCH_H */
