/* test.h — the tiny test harness every tests/test_*.c includes.
 *
 *   static void t_something(void) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_STR(s, "x"); }
 *   int main(void) { RUN(t_something); return test_done(); }
 *
 * A test function passes when none of its checks failed, and is skipped when it calls
 * SKIP(why) (e.g. ../shared is absent). The last line printed is
 * "RESULT <passed> <failed> <skipped>", which tests/run.sh sums. Tests run from the
 * repository root. */
#ifndef PONDER_TEST_H
#define PONDER_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int t_passed, t_failed, t_skipped, t_cur_failed, t_cur_skipped;
static const char *t_cur_name = "";

#define CHECK(cond) do { if (!(cond)) { \
    printf("FAIL %s (%s:%d): %s\n", t_cur_name, __FILE__, __LINE__, #cond); t_cur_failed = 1; } } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) { \
    printf("FAIL %s (%s:%d): %s: ", t_cur_name, __FILE__, __LINE__, #cond); printf(__VA_ARGS__); \
    printf("\n"); t_cur_failed = 1; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long t_a_ = (long long)(a), t_b_ = (long long)(b); if (t_a_ != t_b_) { \
    printf("FAIL %s (%s:%d): %s == %s: %lld != %lld\n", t_cur_name, __FILE__, __LINE__, #a, #b, t_a_, t_b_); \
    t_cur_failed = 1; } } while (0)
#define CHECK_STR(a, b) do { const char *t_a_ = (a), *t_b_ = (b); \
    if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) { \
    printf("FAIL %s (%s:%d): %s == %s: \"%s\" != \"%s\"\n", t_cur_name, __FILE__, __LINE__, #a, #b, \
           t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); t_cur_failed = 1; } } while (0)
#define SKIP(...) do { printf("SKIP %s: ", t_cur_name); printf(__VA_ARGS__); printf("\n"); \
    t_cur_skipped = 1; return; } while (0)

static inline void t_run(const char *name, void (*fn)(void)) {
    t_cur_name = name;
    t_cur_failed = t_cur_skipped = 0;
    fn();
    fflush(stdout);
    if (t_cur_failed) t_failed++;
    else if (t_cur_skipped) t_skipped++;
    else t_passed++;
}
#define RUN(fn) t_run(#fn, fn)

static inline int test_done(void) {
    printf("RESULT %d %d %d\n", t_passed, t_failed, t_skipped);
    return t_failed ? 1 : 0;
}

/* Path of a file in ../shared (or $PONDER_SHARED), or NULL when it is not there:
 * tests that need it SKIP when NULL. Returns a static buffer. */
static inline const char *shared_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("PONDER_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root && *root ? root : "../shared", rel);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

/* The ponder binary of the build under test: $PONDER_BIN (tests/run.sh sets it to
 * <build>/ponder), else build/ponder. */
static inline const char *ponder_bin(void) {
    const char *b = getenv("PONDER_BIN");
    return b && *b ? b : "build/ponder";
}

/* Run "<ponder binary> <args>" through the shell; returns system()'s status. */
static inline int run_ponder(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", ponder_bin(), args);
    return system(cmd);
}

/* Run a shell command with its stdout and stderr into out (at most cap - 1 bytes kept, NUL
 * ended; the rest is read and dropped so the command never blocks on a full pipe). Returns its
 * exit status, or -1 when it did not exit. */
static inline int run_capture(const char *cmd, char *out, size_t cap) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
