/* test_eval_runs.c — runs that never lose work (issue 11's acceptance, on the sim backend):
 *   - a run killed with SIGKILL in the middle (with a torn last line), then resumed, has the
 *     same results.jsonl as an uninterrupted run, byte for byte after sorting the lines;
 *   - the same for a run stopped by its stop flag (SIGINT), whose files hold whole lines;
 *   - the same for shards merged; merge refuses overlapping, missing, foreign, unfinished
 *     shards; summarize rebuilds the summary from the lines;
 *   - a resume with another configuration is refused naming the difference; a damaged
 *     results.jsonl is refused naming the line;
 *   - seeds (mean and spread), subjects; the CLI: --resume DIR alone, merge, summarize, log
 *     lines when stderr is not a terminal. */
#include "test.h"
#include "ponder.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#define DIR "build/tmp/test_eval_runs"

static char out[65536];

/* Run a shell command; stdout+stderr into out. Returns the exit status (-1: not exited). */
static int run(const char *cmd) { return run_capture(cmd, out, sizeof out); }

static pd_dataset ds;
static pd_policy pol;
static pd_verifier ver;

/* 24 arithmetic problems with subjects; sim backends. */
static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    CHECK(system("rm -rf " DIR " && mkdir -p " DIR) == 0);
    pd_error err = {0};
    CHECK_EQ_INT(pd_arith_generate(&ds, 24, 1, 5, 11, &err), 0);
    static const char *subj[] = {"Algebra", "Geometry", "Number Theory"};
    for (size_t i = 0; i < ds.n; i++) CHECK_EQ_INT(pd_dataset_set_subject(&ds, i, subj[i % 3]), 0);
    FILE *f = fopen(DIR "/data.jsonl", "w");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ_INT(pd_dataset_write_jsonl(&ds, f, &err), 0);
        fclose(f);
    }
    CHECK_EQ_INT(pd_policy_open(&pol, "sim", NULL, &err), 0);
    CHECK_EQ_INT(pd_verifier_open(&ver, "sim", &pol, NULL, &err), 0);
}

static void opts(pd_eval_opts *o, const char *dir) {
    pd_eval_opts_default(o);
    o->strategies[0] = PD_BEST_OF_N;
    o->strategies[1] = PD_BEAM_SEARCH;
    o->strategies[2] = PD_DVTS;
    o->n_strategies = 3;
    o->ns[0] = 4;
    o->ns[1] = 16;
    o->n_ns = 2;
    o->seeds[0] = 0;
    o->seeds[1] = 7;
    o->n_seeds = 2;
    o->max_inflight = 16; /* many rounds, so that a run can be cut in the middle */
    o->out_dir = dir;
    o->dataset = DIR "/data.jsonl";
    o->overwrite = 0;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of a file, sorted, joined; NULL when unreadable. *n_lines, and *torn = 1 when
 * the file does not end in a newline. */
static char *sorted_lines(const char *path, size_t *n_lines, int *torn) {
    char *data = NULL;
    size_t len = 0;
    pd_error err = {0};
    if (pd_file_read(path, &data, &len, &err)) return NULL;
    if (torn) *torn = len && data[len - 1] != '\n';
    size_t n = 0, cap = 0;
    char **v = NULL;
    for (char *p = data; p < data + len;) {
        char *e = memchr(p, '\n', (size_t)(data + len - p));
        if (!e) break;
        *e = 0;
        if (pd_grow((void **)&v, &cap, n + 1, sizeof *v)) break;
        v[n++] = p;
        p = e + 1;
    }
    qsort(v, n, sizeof *v, cmp);
    pd_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        pd_buf_puts(&b, v[i]);
        pd_buf_putc(&b, '\n');
    }
    free(v);
    free(data);
    *n_lines = n;
    return b.data ? b.data : calloc(1, 1);
}

/* The reference: an uninterrupted run. */
static char *ref_lines;
static size_t ref_n;

static void t_reference(void) {
    setup();
    pd_eval_opts o;
    opts(&o, DIR "/full");
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_MSG(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.n_jobs, 24 * 3 * 2 * 2);
    CHECK_EQ_INT(rep.n_done, rep.n_jobs);
    CHECK_EQ_INT(rep.n_subjects, 3);
    /* pooled accuracy = mean over the seeds */
    for (size_t c = 0; c < rep.n_cells; c++) {
        const pd_eval_cell *cl = &rep.cells[c];
        CHECK_EQ_INT(cl->problems, 48);
        CHECK_EQ_INT(cl->seed_problems[0] + cl->seed_problems[1], 48);
        CHECK_EQ_INT(cl->seed_correct[PD_SEL_MAJ][0] + cl->seed_correct[PD_SEL_MAJ][1],
                     cl->correct[PD_SEL_MAJ][cl->n_k - 1]);
        uint32_t subj = 0;
        for (int s = 0; s < rep.n_subjects; s++) subj += cl->subject_problems[s];
        CHECK_EQ_INT(subj, 48);
        CHECK_EQ_INT(cl->timed, 48);
    }
    pd_eval_report_free(&rep);
    int torn = 0;
    ref_lines = sorted_lines(DIR "/full/results.jsonl", &ref_n, &torn);
    CHECK(ref_lines && ref_n == 288 && !torn);
    /* the same run again gives the same lines (it is deterministic), in the same order */
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    opts(&o, DIR "/full2");
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    pd_eval_report_free(&rep);
    CHECK_EQ_INT(pd_file_read(DIR "/full/results.jsonl", &a, &la, &err), 0);
    CHECK_EQ_INT(pd_file_read(DIR "/full2/results.jsonl", &b, &lb, &err), 0);
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a);
    free(b);
    /* summary.json: per seed, spread, per subject, backend, timing */
    json_error_t je;
    json_t *s = json_load_file(DIR "/full/summary.json", 0, &je);
    CHECK(s != NULL);
    json_t *r0 = json_array_get(json_object_get(s, "results"), 0);
    json_t *per = json_object_get(json_object_get(r0, "accuracy_per_seed"), "weighted");
    CHECK_EQ_INT(json_array_size(per), 2);
    double a0 = json_real_value(json_array_get(per, 0)), a1 = json_real_value(json_array_get(per, 1));
    double mean = json_real_value(json_object_get(json_object_get(r0, "accuracy"), "weighted"));
    CHECK_MSG(fabs(mean - (a0 + a1) / 2) < 1e-6, "%g vs %g %g", mean, a0, a1);
    double sd = json_real_value(json_object_get(json_object_get(r0, "accuracy_std"), "weighted"));
    CHECK_MSG(fabs(sd - fabs(a0 - a1) / sqrt(2.0)) < 1e-6, "sd %g", sd);
    CHECK(json_object_get(json_object_get(r0, "per_subject"), "Geometry") != NULL);
    CHECK(json_is_true(json_object_get(s, "complete")));
    CHECK(json_real_value(json_object_get(json_object_get(r0, "cost_per_problem"), "wall_s")) > 0);
    json_decref(s);
}

/* A policy that kills its own process at the k-th call, after appending half a line to
 * results.jsonl (a write cut by the kill), or raises the stop flag at the k-th call. */
typedef struct {
    pd_policy inner;
    int calls, at, kill;
    volatile sig_atomic_t *stop;
    const char *torn_path;
} cutter;

static int cut_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    cutter *c = ctx;
    if (++c->calls == c->at) {
        if (c->kill) {
            FILE *f = fopen(c->torn_path, "a");
            if (f) {
                fputs("{\"id\":\"arith/3/1\",\"level\":3,\"strat", f);
                fclose(f);
            }
            raise(SIGKILL);
        }
        *c->stop = 1;
    }
    return c->inner.expand(c->inner.ctx, r, n, err);
}

static void t_kill9_resume(void) {
    setup();
    if (!ref_lines) SKIP("no reference run");
    pid_t pid = fork();
    if (pid == 0) {
        cutter c = {.inner = pol, .at = 25, .kill = 1, .torn_path = DIR "/killed/results.jsonl"};
        pd_policy p = {"cutter", pol.n_params, &c, cut_expand, pol.release, NULL};
        pd_eval_opts o;
        opts(&o, DIR "/killed");
        pd_eval_report rep;
        pd_error err = {0};
        pd_eval_run(&p, &ver, &ds, &o, &rep, &err);
        _exit(3); /* not reached: the run is killed first */
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d", st);
    size_t n_before = 0;
    int torn = 0;
    char *before = sorted_lines(DIR "/killed/results.jsonl", &n_before, &torn);
    CHECK_MSG(n_before > 0 && n_before < ref_n && torn, "%zu lines before the kill, torn %d", n_before, torn);
    free(before);
    CHECK(!pd_file_exists(DIR "/killed/summary.json"));
    /* resume: the torn line is dropped, the finished searches kept, the rest done */
    pd_eval_opts o;
    opts(&o, DIR "/killed");
    o.resume = 1;
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_MSG(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.n_resumed, n_before);
    CHECK(rep.torn_bytes > 0);
    CHECK_EQ_INT(rep.n_done, ref_n);
    pd_eval_report_free(&rep);
    size_t n_after = 0;
    char *after = sorted_lines(DIR "/killed/results.jsonl", &n_after, &torn);
    CHECK_EQ_INT(n_after, ref_n);
    CHECK_MSG(after && !torn && !strcmp(after, ref_lines), "resumed results differ from the uninterrupted run");
    free(after);
    /* the summaries agree (accuracy, cost; not the wall times) */
    json_error_t je;
    json_t *a = json_load_file(DIR "/full/summary.json", 0, &je), *b = json_load_file(DIR "/killed/summary.json", 0, &je);
    CHECK(a && b);
    for (size_t i = 0; a && b && i < 6; i++) {
        json_t *ca = json_array_get(json_object_get(a, "results"), i), *cb = json_array_get(json_object_get(b, "results"), i);
        CHECK(json_equal(json_object_get(ca, "accuracy_at_k"), json_object_get(cb, "accuracy_at_k")));
        CHECK(json_equal(json_object_get(ca, "per_level"), json_object_get(cb, "per_level")));
        CHECK(json_equal(json_object_get(ca, "per_subject"), json_object_get(cb, "per_subject")));
        CHECK(json_equal(json_object_get(ca, "accuracy_per_seed"), json_object_get(cb, "accuracy_per_seed")));
        CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(cb, "cost_per_problem"), "timed")), 48);
    }
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "resumed")), n_before);
    json_decref(a);
    json_decref(b);
    /* resuming a finished run does nothing more */
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    CHECK_EQ_INT(rep.n_resumed, ref_n);
    pd_eval_report_free(&rep);
    after = sorted_lines(DIR "/killed/results.jsonl", &n_after, &torn);
    CHECK(after && !strcmp(after, ref_lines));
    free(after);
}

static void t_stop_flag_resume(void) {
    setup();
    if (!ref_lines) SKIP("no reference run");
    static volatile sig_atomic_t stop;
    stop = 0;
    cutter c = {.inner = pol, .at = 30, .stop = &stop};
    pd_policy p = {"cutter", pol.n_params, &c, cut_expand, pol.release, NULL};
    pd_eval_opts o;
    opts(&o, DIR "/stopped");
    o.stop = &stop;
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_EQ_INT(pd_eval_run(&p, &ver, &ds, &o, &rep, &err), PD_ELIMIT);
    CHECK_MSG(strstr(err.msg, "interrupted") && strstr(err.msg, DIR "/stopped"), "%s", err.msg);
    size_t n = 0;
    int torn = 1;
    char *l = sorted_lines(DIR "/stopped/results.jsonl", &n, &torn);
    CHECK_MSG(n > 0 && n < ref_n && !torn, "%zu lines, torn %d", n, torn);
    free(l);
    stop = 0;
    o.resume = 1;
    CHECK_MSG(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.n_resumed, n);
    CHECK_EQ_INT(rep.torn_bytes, 0);
    pd_eval_report_free(&rep);
    l = sorted_lines(DIR "/stopped/results.jsonl", &n, &torn);
    CHECK(l && !strcmp(l, ref_lines));
    free(l);
}

static void t_resume_refusals(void) {
    setup();
    if (!ref_lines) SKIP("no reference run");
    CHECK(system("rm -rf " DIR "/other && cp -r " DIR "/full " DIR "/other") == 0);
    pd_eval_opts o;
    pd_eval_report rep;
    pd_error err = {0};
    /* another budget list */
    opts(&o, DIR "/other");
    o.resume = 1;
    o.ns[1] = 8;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "n: [4,16] in the run, [4,8] now"), "%s", err.msg);
    /* another sim parameter */
    opts(&o, DIR "/other");
    o.resume = 1;
    pd_sim_params sp;
    pd_sim_params_default(&sp);
    sp.prm_noise = 0.25;
    o.sim = &sp;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "sim: (absent) in the run"), "%s", err.msg);
    /* another beam width, another seed list */
    opts(&o, DIR "/other");
    o.resume = 1;
    o.base.beam_width = 2;
    o.n_seeds = 1;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "search.beam_width: 4 in the run, 2 now") && strstr(err.msg, "seeds: [0,7] in the run, [0] now"),
              "%s", err.msg);
    /* another dataset (one answer changed) */
    pd_dataset d2 = {0};
    CHECK_EQ_INT(pd_arith_generate(&d2, 24, 1, 5, 11, &err), 0);
    free(d2.items[5].answer);
    d2.items[5].answer = strdup("12345");
    opts(&o, DIR "/other");
    o.resume = 1;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &d2, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "dataset_fingerprint"), "%s", err.msg);
    pd_dataset_free(&d2);
    /* a damaged results.jsonl: a garbled whole line in the middle, a line twice */
    opts(&o, DIR "/other");
    o.resume = 1;
    CHECK(system("sed -i '5s/.*/{garbage/' " DIR "/other/results.jsonl") == 0);
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, "results.jsonl:5:"), "%s", err.msg);
    CHECK(system("rm -rf " DIR "/other && cp -r " DIR "/full " DIR "/other && sed -n 7p " DIR
                 "/other/results.jsonl >> " DIR "/other/results.jsonl") == 0);
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EFORMAT);
    CHECK_MSG(strstr(err.msg, ":289: a second result for"), "%s", err.msg);
    /* a directory with something else in it is not a run to resume */
    CHECK(system("mkdir -p " DIR "/notarun && touch " DIR "/notarun/x") == 0);
    opts(&o, DIR "/notarun");
    o.resume = 1;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "no config.json"), "%s", err.msg);
    /* resume into a missing directory starts the run */
    opts(&o, DIR "/fresh");
    o.resume = 1;
    o.limit = 2;
    CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
    CHECK_EQ_INT(rep.n_done, 2 * 3 * 2 * 2);
    pd_eval_report_free(&rep);
}

static void t_shards_merge(void) {
    setup();
    if (!ref_lines) SKIP("no reference run");
    const char *dirs[3] = {DIR "/shard0", DIR "/shard1", DIR "/shard2"};
    pd_eval_report rep;
    pd_error err = {0};
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        pd_eval_opts o;
        opts(&o, dirs[i]);
        o.shard_index = i;
        o.shard_count = 3;
        CHECK_MSG(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err) == 0, "%s", err.msg);
        CHECK_EQ_INT(rep.n_problems, 8);
        total += rep.n_done;
        pd_eval_report_free(&rep);
    }
    CHECK_EQ_INT(total, ref_n);
    /* out of order on the command line: still merged by shard index */
    const char *order[3] = {dirs[2], dirs[0], dirs[1]};
    CHECK_MSG(pd_eval_merge(order, 3, DIR "/merged", 0, &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.n_done, ref_n);
    CHECK_EQ_INT(rep.n_problems, 24);
    pd_eval_report_free(&rep);
    size_t n = 0;
    int torn = 0;
    char *l = sorted_lines(DIR "/merged/results.jsonl", &n, &torn);
    CHECK_MSG(l && !strcmp(l, ref_lines), "merged shards differ from the whole run");
    free(l);
    json_error_t je;
    json_t *a = json_load_file(DIR "/full/summary.json", 0, &je), *b = json_load_file(DIR "/merged/summary.json", 0, &je);
    CHECK(a && b && json_equal(json_object_get(json_array_get(json_object_get(a, "results"), 3), "accuracy_at_k"),
                               json_object_get(json_array_get(json_object_get(b, "results"), 3), "accuracy_at_k")));
    json_decref(a);
    json_decref(b);
    /* refusals */
    CHECK_EQ_INT(pd_eval_merge(dirs, 3, DIR "/merged", 0, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "not empty"), "%s", err.msg);
    const char *overlap[3] = {dirs[0], dirs[1], dirs[1]};
    CHECK_EQ_INT(pd_eval_merge(overlap, 3, DIR "/m2", 0, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "both shard 1/3"), "%s", err.msg);
    CHECK_EQ_INT(pd_eval_merge(dirs, 2, DIR "/m2", 0, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "shard 2/3 is missing"), "%s", err.msg);
    const char *foreign[3] = {dirs[0], dirs[1], DIR "/full"};
    CHECK_EQ_INT(pd_eval_merge(foreign, 3, DIR "/m2", 0, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "is one of 3") || strstr(err.msg, "not shards of one run"), "%s", err.msg);
    {
        pd_eval_opts o;
        opts(&o, DIR "/shard2b");
        o.shard_index = 2;
        o.shard_count = 3;
        o.ns[1] = 8;
        CHECK_EQ_INT(pd_eval_run(&pol, &ver, &ds, &o, &rep, &err), 0);
        pd_eval_report_free(&rep);
        const char *mixed[3] = {dirs[0], dirs[1], DIR "/shard2b"};
        CHECK_EQ_INT(pd_eval_merge(mixed, 3, DIR "/m2", 0, &rep, &err), PD_EINVAL);
        CHECK_MSG(strstr(err.msg, "not shards of one run") && strstr(err.msg, "n: [4,16] in the run, [4,8] now"), "%s",
                  err.msg);
    }
    CHECK(system("head -n 20 " DIR "/shard1/results.jsonl > " DIR "/cut.jsonl && cp " DIR "/cut.jsonl " DIR
                 "/shard1/results.jsonl") == 0);
    CHECK_EQ_INT(pd_eval_merge(dirs, 3, DIR "/m2", 0, &rep, &err), PD_EINVAL);
    CHECK_MSG(strstr(err.msg, "incomplete") && strstr(err.msg, "20 of 96"), "%s", err.msg);
    CHECK(!pd_file_exists(DIR "/m2/results.jsonl"));
}

/* summarize: the summary rebuilt from the lines is the run's (a torn line left out). */
static void t_summarize(void) {
    setup();
    if (!ref_lines) SKIP("no reference run");
    CHECK(system("rm -rf " DIR "/sum && cp -r " DIR "/full " DIR "/sum && rm " DIR "/sum/summary.json") == 0);
    pd_eval_report rep;
    pd_error err = {0};
    CHECK_MSG(pd_eval_summarize(DIR "/sum", &rep, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(rep.n_done, ref_n);
    pd_eval_report_free(&rep);
    json_error_t je;
    json_t *a = json_load_file(DIR "/full/summary.json", 0, &je), *b = json_load_file(DIR "/sum/summary.json", 0, &je);
    CHECK(a && b);
    for (size_t i = 0; a && b && i < 6; i++) {
        json_t *ca = json_array_get(json_object_get(a, "results"), i), *cb = json_array_get(json_object_get(b, "results"), i);
        CHECK(json_equal(json_object_get(ca, "accuracy_at_k"), json_object_get(cb, "accuracy_at_k")));
        CHECK(json_equal(json_object_get(ca, "per_subject"), json_object_get(cb, "per_subject")));
        json_t *pa = json_object_get(ca, "cost_per_problem"), *pb = json_object_get(cb, "cost_per_problem");
        CHECK(json_equal(json_object_get(pa, "policy_flops"), json_object_get(pb, "policy_flops")));
        CHECK(json_equal(json_object_get(pa, "wall_s"), json_object_get(pb, "wall_s")));
    }
    json_decref(a);
    json_decref(b);
    /* a torn last line: left out, the summary says the run is not complete */
    CHECK(system("printf '{\"id\":\"x\",' >> " DIR "/sum/results.jsonl") == 0);
    CHECK_EQ_INT(pd_eval_summarize(DIR "/sum", &rep, &err), 0);
    CHECK_EQ_INT(rep.n_done, ref_n);
    CHECK_EQ_INT(rep.torn_bytes, 10);
    pd_eval_report_free(&rep);
    CHECK(system("head -n 100 " DIR "/sum/results.jsonl > " DIR "/cut.jsonl && cp " DIR "/cut.jsonl " DIR
                 "/sum/results.jsonl") == 0);
    CHECK_EQ_INT(pd_eval_summarize(DIR "/sum", &rep, &err), 0);
    CHECK_EQ_INT(rep.n_done, 100);
    pd_eval_report_free(&rep);
    b = json_load_file(DIR "/sum/summary.json", 0, &je);
    CHECK(b && json_is_false(json_object_get(b, "complete")) && json_integer_value(json_object_get(b, "done")) == 100);
    json_decref(b);
    CHECK_EQ_INT(pd_eval_summarize(DIR "/nowhere", NULL, &err), PD_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "no run here"), "%s", err.msg);
}

/* The command line: a run cut short and resumed with only its directory named; merge and
 * summarize; log lines when stderr is not a terminal; --shard errors. */
static void t_cli(void) {
    setup();
    const char *P = ponder_bin();
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/data.jsonl --strategy best_of_n,dvts "
             "--n 4,8 --seeds 1,2 --sim-prm-noise 0.5 --out " DIR "/cli", P);
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_MSG(strstr(out, "ponder eval: 192/192 searches (100%)") && strstr(out, "weighted: best_of_n@8"), "%s", out);
    CHECK_MSG(strstr(out, "sd(w)") && strstr(out, "by subject") && strstr(out, "Geometry"), "%s", out);
    size_t n_full = 0, n = 0;
    int torn = 0;
    char *full = sorted_lines(DIR "/cli/results.jsonl", &n_full, &torn);
    CHECK_EQ_INT(n_full, 192);
    /* as if killed: the last 50 lines gone, half a line at the end */
    CHECK(system("head -n 142 " DIR "/cli/results.jsonl > " DIR "/cut.jsonl && printf '{\"id\":\"ari' >> " DIR
                 "/cut.jsonl && cp " DIR "/cut.jsonl " DIR "/cli/results.jsonl && rm " DIR "/cli/summary.json") == 0);
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/cli --quiet", P);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    char *l = sorted_lines(DIR "/cli/results.jsonl", &n, &torn);
    CHECK_MSG(l && full && !strcmp(l, full), "resumed CLI run differs");
    free(l);
    CHECK(pd_file_exists(DIR "/cli/summary.json"));
    /* resuming with a different option names it */
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/cli --n 4 --quiet", P);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "n: [4,8] in the run, [4] now") && strchr(out, '\n') == out + strlen(out) - 1, "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/cli --vote-stop 2 --quiet", P);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "search.vote_wave: 0 in the run, 2 now"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s eval --resume " DIR "/cli --sim-prm-noise 1 --quiet", P);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "sim.prm_noise: 0.5 in the run, 1.0 now"), "%s", out);
    /* summarize */
    snprintf(cmd, sizeof cmd, "%s summarize " DIR "/cli", P);
    CHECK_EQ_INT(run(cmd), 0);
    CHECK_MSG(strstr(out, "192 of 192 searches done") && strstr(out, "simulated backend"), "%s", out);
    /* shards through the CLI, merged */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/data.jsonl --strategy best_of_n,dvts "
                 "--n 4,8 --seeds 1,2 --sim-prm-noise 0.5 --shard %d/2 --quiet --out " DIR "/cli-s%d", P, i, i);
        CHECK_MSG(run(cmd) == 0, "%s", out);
    }
    snprintf(cmd, sizeof cmd, "%s merge " DIR "/cli-s1 " DIR "/cli-s0 --out " DIR "/cli-m", P);
    CHECK_MSG(run(cmd) == 0, "%s", out);
    CHECK_MSG(strstr(out, "merged 2 shards: 192 searches"), "%s", out);
    l = sorted_lines(DIR "/cli-m/results.jsonl", &n, &torn);
    CHECK_MSG(l && full && !strcmp(l, full), "merged CLI shards differ");
    free(l);
    snprintf(cmd, sizeof cmd, "%s merge " DIR "/cli-s1 --out " DIR "/cli-m2", P);
    CHECK(run(cmd) != 0);
    CHECK_MSG(strstr(out, "ponder merge: merge: shard 0/2 is missing"), "%s", out);
    const char *bad[] = {"--shard 2/2", "--shard 1", "--shard -1/2", "--seeds 1,1", "--seeds x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "%s eval --policy sim --prm sim --dataset " DIR "/data.jsonl %s --out " DIR "/cli-bad",
                 P, bad[i]);
        CHECK(run(cmd) != 0);
        CHECK_MSG(strstr(out, bad[i][2] == 's' && bad[i][3] == 'h' ? "--shard" : "--seeds"), "%s: %s", bad[i], out);
    }
    free(full);
}

int main(void) {
    RUN(t_reference);
    RUN(t_kill9_resume);
    RUN(t_stop_flag_resume);
    RUN(t_resume_refusals);
    RUN(t_shards_merge);
    RUN(t_summarize);
    RUN(t_cli);
    free(ref_lines);
    pd_verifier_close(&ver);
    pd_policy_close(&pol);
    pd_dataset_free(&ds);
    return test_done();
}
