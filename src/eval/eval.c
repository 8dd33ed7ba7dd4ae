/* eval.c — the benchmark runner: problems x strategies x budgets x seeds through the
 * scheduler, into a run directory that never loses finished work.
 *
 * All jobs (seed, then strategy, then N, then problem) go to one scheduler run so that the
 * backend sees wide batches across problems and strategies. Each finished search becomes its
 * JSON line at once (the search's tree is freed right after) and is appended to
 * results.jsonl with a single write(); the files are fdatasync'ed before the next backend
 * call, so a round's results reach the disk before more work is started, with one sync per
 * round rather than one per line. A killed run therefore loses only the searches in flight,
 * and at most cuts the last line, which a resume drops and redoes (run.c reads the lines).
 *
 * Accuracy is tallied from the JSON line itself (pd_eval_tally), the same function that
 * rebuilds a summary from the files, so a resumed, merged or re-summarized run reports what
 * an uninterrupted one does.
 *
 * Time: the policy and verifier are wrapped so that each backend call is timed and its
 * seconds shared among the searches in the call by the tokens each had computed in it. The
 * result is the backend time spent on each search, policy and PRM apart (timing.jsonl), a
 * fair per-problem figure even though every call serves many problems. Searches are told
 * apart by their cost pointer (the scheduler's requests point at each search's pd_cost).
 *
 * Answers are extracted, grouped and judged only through the grader (pd_grade_extract,
 * pd_grade_key via pd_select_pick, pd_grade_equal), the one notion of equivalence. */
#include "eval_int.h"
#include "ponder/grade.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pd_eval_opts_default(pd_eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->policy_spec = "sim";
    o->prm_spec = "sim";
    o->strategies[0] = PD_BEST_OF_N;
    o->n_strategies = 1;
    o->ns[0] = 4;
    o->n_ns = 1;
    pd_search_cfg_default(&o->base);
    o->max_inflight = 256;
    o->with_texts = 1;
    o->overwrite = 1;
}

const char *pd_eval_backend_kind(const char *spec) {
    if (!spec || !strcmp(spec, "sim")) return "sim";
    if (strstr(spec, "://")) return "remote"; /* http(s)://..., logprob+http://..., vllm-pooling+http://... */
    return "local";
}

/* ---- time per search: backend calls shared by tokens ---- */

typedef struct tentry {
    const pd_cost *cost;      /* the search's cost (its identity); NULL: empty slot */
    const pd_problem *prob;   /* its problem */
    uint64_t snap[4];         /* its counters after its last call: policy, prefix, prm tokens, expansions */
    uint64_t stamp, before;   /* the call it was last seen in, its tokens before that call */
    double pol_s, prm_s;
} tentry;

typedef struct timing {
    tentry *e;
    size_t cap, n;
    uint64_t stamp;
    size_t *uniq;             /* the entries of the current call */
    size_t n_uniq, cap_uniq;
} timing;

static size_t t_hash(const void *p, size_t cap) {
    return (size_t)pd_hash_mix(0x2545f4914f6cdd1dull, (uint64_t)(uintptr_t)p) & (cap - 1);
}

static int t_grow(timing *t) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    tentry *e = calloc(cap, sizeof *e);
    if (!e) return PD_ENOMEM;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].cost) {
            size_t j = t_hash(t->e[i].cost, cap);
            while (e[j].cost) j = (j + 1) & (cap - 1);
            e[j] = t->e[i];
        }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

/* Room for `extra` more entries without growing (entries do not move during a call). */
static int t_reserve(timing *t, size_t extra) {
    while ((t->n + extra) * 2 > t->cap)
        if (t_grow(t)) return PD_ENOMEM;
    return 0;
}

/* The entry of a search's cost pointer, added when new (room reserved beforehand). */
static tentry *t_get(timing *t, const pd_cost *c) {
    size_t i = t_hash(c, t->cap);
    while (t->e[i].cost && t->e[i].cost != c) i = (i + 1) & (t->cap - 1);
    if (!t->e[i].cost) {
        memset(&t->e[i], 0, sizeof t->e[i]);
        t->e[i].cost = c;
        t->n++;
    }
    return &t->e[i];
}

/* Remove slot i (backward-shift deletion keeps every probe chain whole). */
static void t_del(timing *t, size_t i) {
    t->e[i].cost = NULL;
    t->n--;
    for (size_t j = (i + 1) & (t->cap - 1); t->e[j].cost; j = (j + 1) & (t->cap - 1)) {
        size_t h = t_hash(t->e[j].cost, t->cap);
        /* can e[j] move to the hole at i? yes when h is not cyclically in (i, j] */
        if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
            t->e[i] = t->e[j];
            t->e[j].cost = NULL;
            i = j;
        }
    }
}

static uint64_t tokens_of(const pd_cost *c, int prm) {
    return prm ? c->prm_tokens : c->policy_tokens + c->prefix_tokens;
}

/* Before a call: note each search in it once, with its tokens so far. */
static int t_begin(timing *t, const pd_cost *c, const pd_tree *tree, int prm) {
    tentry *e = t_get(t, c);
    e->prob = tree->prob;
    if (e->stamp == t->stamp) return 0;
    e->stamp = t->stamp;
    e->before = tokens_of(c, prm);
    if (pd_grow((void **)&t->uniq, &t->cap_uniq, t->n_uniq + 1, sizeof *t->uniq)) return PD_ENOMEM;
    t->uniq[t->n_uniq++] = (size_t)(e - t->e);
    return 0;
}

/* After a call of dt seconds: share it by the tokens each search computed in the call. */
static void t_end(timing *t, double dt, int prm) {
    uint64_t total = 0;
    for (size_t i = 0; i < t->n_uniq; i++) {
        tentry *e = &t->e[t->uniq[i]];
        total += tokens_of(e->cost, prm) - e->before;
    }
    for (size_t i = 0; i < t->n_uniq; i++) {
        tentry *e = &t->e[t->uniq[i]];
        double share = total ? (double)(tokens_of(e->cost, prm) - e->before) / (double)total : 1.0 / (double)t->n_uniq;
        if (prm) e->prm_s += dt * share;
        else e->pol_s += dt * share;
        e->snap[0] = e->cost->policy_tokens;
        e->snap[1] = e->cost->prefix_tokens;
        e->snap[2] = e->cost->prm_tokens;
        e->snap[3] = e->cost->expansions;
    }
    t->n_uniq = 0;
}

/* The time of a finished search (found by its problem and final counters), removed from the
 * table. Two searches of one problem whose counters are equal at the end are alike enough
 * for either's time to stand for the other's. */
static void t_take(timing *t, const pd_problem *prob, const pd_cost *c, double *pol_s, double *prm_s) {
    *pol_s = *prm_s = 0;
    for (size_t i = 0; i < t->cap; i++) {
        tentry *e = &t->e[i];
        if (e->cost && e->prob == prob && e->snap[0] == c->policy_tokens && e->snap[1] == c->prefix_tokens &&
            e->snap[2] == c->prm_tokens && e->snap[3] == c->expansions) {
            *pol_s = e->pol_s;
            *prm_s = e->prm_s;
            t_del(t, i);
            return;
        }
    }
}

/* ---- the run ---- */

typedef struct run_ctx {
    const pd_eval_opts *o;
    const pd_dataset *ds;
    const pd_policy *pol;
    const pd_verifier *ver;
    size_t *probs;         /* (n_sp) dataset indices of this shard's problems */
    size_t n_sp;
    pd_sched_job *jobs;    /* (n_todo) the searches to run now */
    size_t *gidx;          /* (n_todo) their index in the whole run */
    size_t n_todo;
    pd_eval_report *rep;
    int fd_res, fd_tim;    /* results.jsonl, timing.jsonl (-1: not writing) */
    int dirty;             /* written since the last sync */
    const char *res_path;
    timing tm;
    pd_buf line;
    /* progress */
    int tty;
    size_t session_done;
    double t0, last_progress, next_log_frac;
    size_t logged_done;    /* n_done at the last progress line */
    uint64_t session_tokens;
} run_ctx;

static int interrupted(run_ctx *x, pd_error *err) {
    return pd_err_set(err, PD_ELIMIT, "interrupted: %zu of %zu searches are in %s; resume the run to finish it",
                      x->rep->n_done, x->rep->n_jobs, x->o->out_dir ? x->o->out_dir : "(no directory)");
}

/* Write the whole of s to fd (appending). */
static int write_all(int fd, const char *s, size_t n, const char *path, pd_error *err) {
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return pd_err_set(err, PD_EIO, "%s: write failed: %s", path, strerror(errno));
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_files(run_ctx *x, pd_error *err) {
    if (!x->dirty) return 0;
    x->dirty = 0;
    if ((x->fd_res >= 0 && fdatasync(x->fd_res) != 0) || (x->fd_tim >= 0 && fdatasync(x->fd_tim) != 0))
        return pd_err_set(err, PD_EIO, "%s: sync failed: %s", x->res_path, strerror(errno));
    return 0;
}

static int w_expand(void *ctx, pd_expand_req *r, size_t n, pd_error *err) {
    run_ctx *x = ctx;
    if (x->o->stop && *x->o->stop) return interrupted(x, err);
    int rc = sync_files(x, err);
    if (rc) return rc;
    x->tm.stamp++;
    if (t_reserve(&x->tm, n)) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    for (size_t i = 0; i < n; i++)
        if (t_begin(&x->tm, r[i].cost, r[i].tree, 0)) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    double t0 = pd_now();
    rc = x->pol->expand(x->pol->ctx, r, n, err);
    t_end(&x->tm, pd_now() - t0, 0);
    return rc;
}

static int w_score(void *ctx, pd_score_req *r, size_t n, pd_error *err) {
    run_ctx *x = ctx;
    if (x->o->stop && *x->o->stop) return interrupted(x, err);
    x->tm.stamp++;
    if (t_reserve(&x->tm, n)) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    for (size_t i = 0; i < n; i++)
        if (t_begin(&x->tm, r[i].cost, r[i].tree, 1)) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    double t0 = pd_now();
    int rc = x->ver->score(x->ver->ctx, r, n, err);
    t_end(&x->tm, pd_now() - t0, 1);
    return rc;
}

static void w_pol_release(void *ctx, pd_tree *t, int32_t node) {
    run_ctx *x = ctx;
    x->pol->release(x->pol->ctx, t, node);
}

static void w_ver_release(void *ctx, pd_tree *t, int32_t node) {
    run_ctx *x = ctx;
    x->ver->release(x->ver->ctx, t, node);
}

static const char *status_name(int s) {
    return s == PD_NODE_FINISHED ? "finished" : s == PD_NODE_TRUNCATED ? "truncated" : "open";
}

/* One finished search as its results line. */
static json_t *result_json(const run_ctx *x, const pd_sched_job *jb, size_t dsi, const pd_search_result *r) {
    const pd_problem *p = jb->prob;
    const char *gold = p->answer ? p->answer : "";
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "id", pd_eval_jstr(p->id ? p->id : ""));
    json_object_set_new(o, "level", json_integer(p->level));
    if (pd_dataset_subject(x->ds, dsi)) json_object_set_new(o, "subject", pd_eval_jstr(pd_dataset_subject(x->ds, dsi)));
    json_object_set_new(o, "strategy", json_string(pd_strategy_name(jb->cfg.strategy)));
    json_object_set_new(o, "n", json_integer(jb->cfg.n));
    json_object_set_new(o, "seed", json_integer((json_int_t)jb->cfg.seed));
    if (jb->cfg.strategy != PD_BEST_OF_N && jb->cfg.strategy != PD_AUTO) {
        json_object_set_new(o, "beam_width", json_integer(jb->cfg.beam_width));
        json_object_set_new(o, "lookahead", json_integer(jb->cfg.lookahead));
    }
    json_object_set_new(o, "gold", pd_eval_jstr(gold));
    if (r->failed) { /* a backend request failed for good: recorded, and the run goes on */
        json_object_set_new(o, "failed", json_true());
        json_object_set_new(o, "error", pd_eval_jstr(r->error));
        if (x->o->progress) fprintf(stderr, "%sponder eval: problem %s failed: %s\n", x->tty ? "\n" : "",
                                    p->id ? p->id : "?", r->error);
    }
    json_t *comps = json_array();
    for (int32_t i = 0; i < r->n; i++) {
        const pd_completion *c = &r->c[i];
        json_t *jc = json_object();
        if (x->o->with_texts) json_object_set_new(jc, "text", pd_eval_jstr(c->text ? c->text : ""));
        json_t *rw = json_array();
        for (int32_t s = 0; s < c->n_steps; s++) json_array_append_new(rw, json_real(c->rewards[s]));
        json_object_set_new(jc, "step_rewards", rw);
        json_object_set_new(jc, "score", json_real(c->score));
        json_object_set_new(jc, "answer", c->answer ? pd_eval_jstr(c->answer) : json_null());
        json_object_set_new(jc, "correct", json_boolean(c->answer && pd_grade_equal(c->answer, gold)));
        json_object_set_new(jc, "status", json_string(status_name(c->status)));
        json_object_set_new(jc, "tokens", json_integer((json_int_t)c->n_tokens));
        json_array_append_new(comps, jc);
    }
    json_object_set_new(o, "completions", comps);
    /* predictions at k = 1, 2, 4, ..., N for each selection */
    int32_t ks[PD_EVAL_MAX_K], n_k = 0;
    for (int32_t k = 1; k < jb->cfg.n && n_k < PD_EVAL_MAX_K - 1; k *= 2) ks[n_k++] = k;
    ks[n_k++] = jb->cfg.n;
    for (int sel = 0; sel < PD_N_SELECT; sel++)
        for (int32_t ki = 0; ki < n_k; ki++) {
            int32_t pick = pd_select_pick(r->c, r->n, ks[ki], (pd_select)sel);
            const char *ans = pick >= 0 ? r->c[pick].answer : NULL;
            char key[64];
            snprintf(key, sizeof key, "pred_%s@%d", pd_select_name((pd_select)sel), ks[ki]);
            json_object_set_new(o, key, ans ? pd_eval_jstr(ans) : json_null());
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)sel), ks[ki]);
            json_object_set_new(o, key, json_boolean(ans && pd_grade_equal(ans, gold)));
        }
    if (r->auto_bin >= 0) { /* auto: what the probe found, what ran, its own selection's answer */
        const pd_plan_choice *ch = &r->auto_choice;
        json_object_set_new(o, "plan", pd_plan_trace_json(r->auto_stat, r->auto_bin, ch));
        int32_t pick = pd_select_pick(r->c, r->n, r->n, (pd_select)ch->sel);
        const char *ans = pick >= 0 ? r->c[pick].answer : NULL;
        json_object_set_new(o, "pred_plan", ans ? pd_eval_jstr(ans) : json_null());
        json_object_set_new(o, "correct_plan", json_boolean(ans && pd_grade_equal(ans, gold)));
    }
    json_object_set_new(o, "iterations", json_integer(r->iterations));
    json_object_set_new(o, "topped_up", json_integer(r->n_topped_up));
    json_t *cost = json_object();
    json_object_set_new(cost, "policy_tokens", json_integer((json_int_t)r->cost.policy_tokens));
    json_object_set_new(cost, "prefix_tokens", json_integer((json_int_t)r->cost.prefix_tokens));
    json_object_set_new(cost, "prm_tokens", json_integer((json_int_t)r->cost.prm_tokens));
    json_object_set_new(cost, "expansions", json_integer((json_int_t)r->cost.expansions));
    json_object_set_new(cost, "policy_flops", json_real(r->cost.policy_flops));
    json_object_set_new(cost, "prm_flops", json_real(r->cost.prm_flops));
    json_object_set_new(o, "cost", cost);
    return o;
}

/* "1h02m", "3m05s", "12s" */
static void fmt_dur(char *b, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) snprintf(b, n, "?");
    else if (s >= 3600) snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(b, n, "%.0fs", s);
}

/* The progress line: searches done, ETA, tokens/s, running weighted accuracy at the
 * largest N of each strategy. On a terminal it is redrawn in place; otherwise a log line is
 * printed at each tenth of the run or each minute. */
static void progress(run_ctx *x, int final) {
    double now = pd_now(), el = now - x->t0;
    const pd_eval_report *rep = x->rep;
    double frac = rep->n_jobs ? (double)rep->n_done / (double)rep->n_jobs : 1.0;
    if (x->tty ? !final && now - x->last_progress < 0.25
               : final ? x->logged_done == rep->n_done && x->session_done
                       : frac < x->next_log_frac && now - x->last_progress < 60.0)
        return;
    x->logged_done = rep->n_done;
    x->last_progress = now;
    while (x->next_log_frac <= frac) x->next_log_frac += 0.1;
    char eta[32], els[32];
    size_t left = rep->n_jobs - rep->n_done;
    fmt_dur(eta, sizeof eta, x->session_done ? el / (double)x->session_done * (double)left : -1);
    fmt_dur(els, sizeof els, el);
    pd_buf b = {0};
    pd_buf_printf(&b, "%zu/%zu searches (%.0f%%), %s, ETA %s, %.0f tok/s", rep->n_done, rep->n_jobs, 100 * frac, els,
                  final ? "0s" : eta, el > 0 ? (double)x->session_tokens / el : 0.0);
    int first = 1;
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        if (i + 1 < rep->n_cells && rep->cells[i + 1].strategy == c->strategy) continue; /* its largest N */
        if (!c->problems) continue;
        pd_buf_printf(&b, "%s %s@%d %.1f%%", first ? "; weighted:" : ",", pd_strategy_name(c->strategy), c->n,
                      100.0 * c->correct[PD_SEL_WEIGHTED][c->n_k - 1] / c->problems);
        first = 0;
    }
    if (b.data) {
        if (x->tty) fprintf(stderr, "\r  %s\033[K%s", b.data, final ? "\n" : "");
        else fprintf(stderr, "ponder eval: %s\n", b.data);
        fflush(stderr);
    }
    pd_buf_free(&b);
}

/* One finished job: its line, tally, time; written at once. */
static int on_result(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    run_ctx *x = ud;
    const pd_sched_job *jb = &x->jobs[job];
    size_t g = x->gidx[job], dsi = x->probs[g % x->n_sp];
    json_t *o = result_json(x, jb, dsi, r);
    if (!o) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    const char *why = NULL;
    int ci = pd_eval_tally(x->rep, o, &why);
    if (ci < 0) {
        json_decref(o);
        return pd_err_set(err, PD_EINVAL, "eval: internal: %s", why);
    }
    double pol_s, prm_s;
    t_take(&x->tm, jb->prob, &r->cost, &pol_s, &prm_s);
    pd_eval_cell *cell = &x->rep->cells[ci];
    cell->policy_s += pol_s;
    cell->prm_s += prm_s;
    cell->timed++;
    int rc = 0;
    if (x->fd_res >= 0) {
        /* the timing line first: a results line without its timing never happens, while a
         * timing line whose result was cut is harmless (the redone search writes a new one) */
        json_t *t = json_object();
        json_object_set(t, "id", json_object_get(o, "id"));
        json_object_set(t, "strategy", json_object_get(o, "strategy"));
        json_object_set(t, "n", json_object_get(o, "n"));
        json_object_set(t, "seed", json_object_get(o, "seed"));
        json_object_set_new(t, "policy_s", json_real(pol_s));
        json_object_set_new(t, "prm_s", json_real(prm_s));
        char *ts = json_dumps(t, JSON_COMPACT); /* full precision: summaries rebuilt from it are exact */
        char *rs = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(t);
        if (!ts || !rs) rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        /* each line goes out in one write(), newline included */
        for (int f = 0; f < 2 && !rc; f++) {
            char *s = f ? rs : ts;
            x->line.len = 0;
            if (pd_buf_puts(&x->line, s) || pd_buf_putc(&x->line, '\n')) rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
            else rc = write_all(f ? x->fd_res : x->fd_tim, x->line.data, x->line.len, x->res_path, err);
        }
        free(ts);
        free(rs);
        x->dirty = 1;
    }
    json_decref(o);
    if (rc) return rc;
    x->session_done++;
    x->session_tokens += r->cost.policy_tokens;
    if (x->o->progress) progress(x, 0);
    if (x->o->stop && *x->o->stop) return interrupted(x, err);
    return 0;
}

/* ---- resuming: the lines already in the directory ---- */

typedef struct resume_ctx {
    run_ctx *x;
    pd_keymap *keys;       /* key -> run index */
    uint8_t *done;         /* (n_jobs) */
    double *pol_s, *prm_s; /* (n_jobs) timings found */
    uint8_t *timed;
    const char *path;
    pd_buf key;
} resume_ctx;

static int resume_result(void *ud, json_t *line, size_t lineno, pd_error *err) {
    resume_ctx *rs = ud;
    size_t g;
    if (pd_eval_line_key(line, &rs->key))
        return pd_err_set(err, PD_EFORMAT, "%s:%zu: not a result line (no id, strategy, n or seed)", rs->path, lineno);
    if (!pd_keymap_get(rs->keys, rs->key.data, &g))
        return pd_err_set(err, PD_EFORMAT, "%s:%zu: a result for %s, which is not part of this run", rs->path, lineno,
                          rs->key.data);
    if (rs->done[g]) return pd_err_set(err, PD_EFORMAT, "%s:%zu: a second result for %s", rs->path, lineno, rs->key.data);
    const char *why = NULL;
    if (pd_eval_tally(rs->x->rep, line, &why) < 0) return pd_err_set(err, PD_EFORMAT, "%s:%zu: %s", rs->path, lineno, why);
    rs->done[g] = 1;
    return 0;
}

static int resume_timing(void *ud, json_t *line, size_t lineno, pd_error *err) {
    resume_ctx *rs = ud;
    size_t g;
    (void)lineno, (void)err;
    if (pd_eval_line_key(line, &rs->key) || !pd_keymap_get(rs->keys, rs->key.data, &g) || !rs->done[g]) return 0;
    json_t *a = json_object_get(line, "policy_s"), *b = json_object_get(line, "prm_s");
    rs->pol_s[g] = json_is_number(a) ? json_number_value(a) : 0;
    rs->prm_s[g] = json_is_number(b) ? json_number_value(b) : 0;
    rs->timed[g] = 1;
    return 0;
}

/* ---- pd_eval_run ---- */

/* Check the options; fills n_used. */
static int check_opts(const pd_eval_opts *o, const pd_dataset *ds, size_t *n_used, pd_error *err) {
    if (o->n_strategies < 1 || o->n_strategies > PD_N_STRATEGIES + 1 || o->n_ns < 1 || o->n_ns > PD_EVAL_MAX_N)
        return pd_err_set(err, PD_EINVAL, "eval: need 1..%d strategies and 1..%d budgets", PD_N_STRATEGIES + 1,
                          PD_EVAL_MAX_N);
    if (o->n_seeds < 0 || o->n_seeds > PD_EVAL_MAX_SEEDS)
        return pd_err_set(err, PD_EINVAL, "eval: at most %d seeds", PD_EVAL_MAX_SEEDS);
    for (int i = 0; i < o->n_strategies; i++)
        for (int j = 0; j < i; j++)
            if (o->strategies[i] == o->strategies[j])
                return pd_err_set(err, PD_EINVAL, "eval: strategy %s is given twice", pd_strategy_name(o->strategies[i]));
    for (int i = 0; i < o->n_ns; i++)
        for (int j = 0; j < i; j++)
            if (o->ns[i] == o->ns[j]) return pd_err_set(err, PD_EINVAL, "eval: budget N = %d is given twice", o->ns[i]);
    for (int i = 0; i < o->n_seeds; i++)
        for (int j = 0; j < i; j++)
            if (o->seeds[i] == o->seeds[j])
                return pd_err_set(err, PD_EINVAL, "eval: seed %llu is given twice", (unsigned long long)o->seeds[i]);
    if (o->shard_count > 1 && (o->shard_index < 0 || o->shard_index >= o->shard_count))
        return pd_err_set(err, PD_EINVAL, "eval: shard %d/%d: the index must be 0..%d", o->shard_index, o->shard_count,
                          o->shard_count - 1);
    size_t n = ds->n;
    if (o->limit && o->limit < n) n = o->limit;
    if (n == 0) return pd_err_set(err, PD_EINVAL, "eval: the dataset has no problems");
    if (!pd_eval_shard_size(n, o->shard_index, o->shard_count))
        return pd_err_set(err, PD_EINVAL, "eval: shard %d/%d of %zu problems is empty", o->shard_index, o->shard_count, n);
    /* every configuration before doing any work */
    for (int si = 0; si < o->n_strategies; si++)
        for (int ni = 0; ni < o->n_ns; ni++) {
            pd_search_cfg c = o->base;
            c.strategy = o->strategies[si];
            c.n = o->ns[ni];
            c.plan = o->plan;
            if (c.strategy == PD_BEST_OF_N) c.lookahead = 0;
            int rc = pd_search_cfg_check(&c, err);
            if (rc) return rc;
        }
    *n_used = n;
    return 0;
}

/* Prepare out_dir: refuse, resume or start fresh. *resuming is set when lines are to be read
 * back. */
static int prepare_dir(const pd_eval_opts *o, json_t *config, int *resuming, pd_error *err) {
    const char *dir = o->out_dir;
    *resuming = 0;
    int ne = pd_eval_dir_nonempty(dir);
    if (ne < 0) return pd_err_set(err, PD_EINVAL, "eval: %s exists and is not a directory", dir);
    char *cp = pd_eval_join(dir, "config.json");
    if (!cp) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    int rc = 0;
    if (o->resume && pd_file_exists(cp)) {
        json_error_t je;
        json_t *saved = json_load_file(cp, JSON_REJECT_DUPLICATES, &je);
        if (!saved) rc = pd_err_set(err, PD_EFORMAT, "%s:%d: %s", cp, je.line, je.text);
        else {
            static const char *const skip[] = {"dataset", "dataset_skipped", "plan", NULL};
            pd_buf d = {0};
            if (pd_eval_config_diff(saved, config, skip, &d))
                rc = pd_err_set(err, PD_EINVAL, "eval: cannot resume %s: the run there differs from this one: %s", dir,
                                d.data ? d.data : "");
            pd_buf_free(&d);
            json_decref(saved);
            *resuming = !rc;
        }
    } else if (o->resume && ne) {
        rc = pd_err_set(err, PD_EINVAL, "eval: cannot resume %s: it is not empty but holds no run (no config.json)", dir);
    } else if (ne && !o->overwrite) {
        rc = pd_err_set(err, PD_EINVAL, "eval: %s is not empty%s: continue that run with resume (--resume) or replace "
                        "it with overwrite (--overwrite)", dir, pd_file_exists(cp) ? " (it holds a run)" : "");
    }
    if (!rc && !*resuming) {
        rc = pd_mkdirs(dir, err);
        static const char *const old[] = {"results.jsonl", "timing.jsonl", "summary.json", NULL};
        for (const char *const *f = old; !rc && *f; f++) {
            char *p = pd_eval_join(dir, *f);
            if (!p) rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
            else if (unlink(p) != 0 && errno != ENOENT) rc = pd_err_set(err, PD_EIO, "%s: cannot remove: %s", p, strerror(errno));
            free(p);
        }
        if (!rc) rc = pd_eval_write_json(cp, config, JSON_INDENT(2), err);
    }
    free(cp);
    return rc;
}

int pd_eval_run(const pd_policy *pol, const pd_verifier *ver, const pd_dataset *ds,
                const pd_eval_opts *o, pd_eval_report *rep, pd_error *err) {
    memset(rep, 0, sizeof *rep);
    size_t n_used = 0;
    int rc = check_opts(o, ds, &n_used, err);
    if (rc) return rc;
    json_t *config = pd_eval_config_json(o, ds, n_used);
    if (!config) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    run_ctx x = {0};
    x.o = o;
    x.ds = ds;
    x.pol = pol;
    x.ver = ver;
    x.rep = rep;
    x.fd_res = x.fd_tim = -1;
    char *res_path = NULL, *tim_path = NULL, *sum_path = NULL;
    pd_keymap keys = {0};
    resume_ctx rs = {0};
    uint64_t seed1 = o->base.seed;
    const uint64_t *seeds = o->n_seeds > 0 ? o->seeds : &seed1;
    if ((rc = pd_eval_report_init(rep, config, err))) goto out;
    size_t n_cells = rep->n_cells, n_sp = rep->n_problems, n_jobs = rep->n_jobs;
    x.n_sp = n_sp;
    x.probs = calloc(n_sp, sizeof *x.probs);
    x.jobs = calloc(n_jobs, sizeof *x.jobs);
    x.gidx = calloc(n_jobs, sizeof *x.gidx);
    if (!x.probs || !x.jobs || !x.gidx || n_jobs / n_cells / n_sp != (size_t)rep->n_seeds) {
        rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        goto out;
    }
    for (size_t i = 0, k = 0; i < n_used; i++)
        if (o->shard_count <= 1 || i % (size_t)o->shard_count == (size_t)o->shard_index) x.probs[k++] = i;

    /* the directory: refuse, resume (reading back what is done) or start */
    int resuming = 0;
    if (o->out_dir) {
        res_path = pd_eval_join(o->out_dir, "results.jsonl");
        tim_path = pd_eval_join(o->out_dir, "timing.jsonl");
        sum_path = pd_eval_join(o->out_dir, "summary.json");
        if (!res_path || !tim_path || !sum_path) {
            rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
            goto out;
        }
        x.res_path = res_path;
        if ((rc = prepare_dir(o, config, &resuming, err))) goto out;
    }
    if (resuming) {
        rs.x = &x;
        rs.keys = &keys;
        rs.done = calloc(n_jobs, 1);
        rs.timed = calloc(n_jobs, 1);
        rs.pol_s = calloc(n_jobs, sizeof *rs.pol_s);
        rs.prm_s = calloc(n_jobs, sizeof *rs.prm_s);
        if (!rs.done || !rs.timed || !rs.pol_s || !rs.prm_s) {
            rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
            goto out;
        }
        for (size_t g = 0; g < n_jobs && !rc; g++) {
            size_t pi = g % n_sp, ci = g / n_sp % n_cells, si = g / n_sp / n_cells;
            if (pd_eval_job_key(&rs.key, seeds[si], pd_strategy_name(rep->cells[ci].strategy), rep->cells[ci].n,
                                ds->items[x.probs[pi]].id) ||
                pd_keymap_put(&keys, rs.key.data, g, NULL) < 0)
                rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        }
        size_t torn = 0, torn2 = 0;
        rs.path = res_path;
        if (!rc) rc = pd_eval_read_jsonl(res_path, 1, resume_result, &rs, &torn, err);
        rs.path = tim_path;
        if (!rc) rc = pd_eval_read_jsonl(tim_path, 1, resume_timing, &rs, &torn2, err);
        if (rc) goto out;
        rep->torn_bytes = torn;
        rep->n_resumed = rep->n_done;
        for (size_t g = 0; g < n_jobs; g++)
            if (rs.timed[g]) {
                pd_eval_cell *c = &rep->cells[g / n_sp % n_cells];
                c->policy_s += rs.pol_s[g];
                c->prm_s += rs.prm_s[g];
                c->timed++;
            }
    }
    /* the searches still to do */
    for (size_t g = 0; g < n_jobs; g++) {
        if (rs.done && rs.done[g]) continue;
        size_t pi = g % n_sp, ci = g / n_sp % n_cells, si = g / n_sp / n_cells;
        pd_sched_job *j = &x.jobs[x.n_todo];
        j->prob = &ds->items[x.probs[pi]];
        j->cfg = o->base;
        j->cfg.strategy = rep->cells[ci].strategy;
        j->cfg.n = rep->cells[ci].n;
        j->cfg.seed = seeds[si];
        j->cfg.plan = o->plan;
        if (j->cfg.strategy == PD_BEST_OF_N) j->cfg.lookahead = 0;
        x.gidx[x.n_todo++] = g;
    }
    if (o->out_dir) {
        x.fd_res = open(res_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        x.fd_tim = open(tim_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (x.fd_res < 0 || x.fd_tim < 0) {
            rc = pd_err_set(err, PD_EIO, "%s: cannot open for appending: %s", x.fd_res < 0 ? res_path : tim_path,
                            strerror(errno));
            goto out;
        }
    }
    x.tty = o->progress && isatty(STDERR_FILENO);
    x.t0 = x.last_progress = pd_now();
    x.next_log_frac = 0.1;
    if (o->progress && rep->n_resumed)
        fprintf(stderr, "ponder eval: resuming %s: %zu of %zu searches were done%s\n", o->out_dir, rep->n_resumed,
                n_jobs, rep->torn_bytes ? " (a torn last line was dropped)" : "");
    if (x.n_todo) {
        /* the backends, wrapped to time each call and to stop between calls when asked */
        pd_policy wp = {pol->name, pol->n_params, &x, w_expand, pol->release ? w_pol_release : NULL, NULL};
        pd_verifier wv = {ver->name, ver->n_params, &x, w_score, ver->release ? w_ver_release : NULL, NULL, ver->needs_conf};
        rc = pd_sched_run(&wp, &wv, x.jobs, x.n_todo, o->max_inflight, on_result, &x, &rep->stats, err);
    }
    rep->seconds = pd_now() - x.t0;
    if (o->progress && (x.n_todo || rep->n_resumed)) progress(&x, 1);
    {
        pd_error e2 = {0};
        int src = sync_files(&x, &e2);
        if (!rc && src) {
            rc = src;
            if (err) *err = e2;
        }
    }
    if (rc) goto out;
    if (o->out_dir) {
        json_t *s = pd_eval_summary_json(rep, config, 1);
        rc = pd_eval_write_json(sum_path, s, JSON_INDENT(2) | JSON_REAL_PRECISION(6), err);
        json_decref(s);
    }
out:
    if (x.fd_res >= 0 && close(x.fd_res) != 0 && !rc) rc = pd_err_set(err, PD_EIO, "%s: write failed", res_path);
    if (x.fd_tim >= 0 && close(x.fd_tim) != 0 && !rc) rc = pd_err_set(err, PD_EIO, "%s: write failed", tim_path);
    free(x.probs);
    free(x.jobs);
    free(x.gidx);
    free(x.tm.e);
    free(x.tm.uniq);
    pd_buf_free(&x.line);
    pd_keymap_free(&keys);
    free(rs.done), free(rs.timed), free(rs.pol_s), free(rs.prm_s);
    pd_buf_free(&rs.key);
    free(res_path);
    free(tim_path);
    free(sum_path);
    json_decref(config);
    if (rc) pd_eval_report_free(rep);
    return rc;
}

void pd_eval_report_free(pd_eval_report *rep) {
    if (!rep) return;
    free(rep->cells);
    memset(rep, 0, sizeof *rep);
}

static double ratio(uint32_t a, uint32_t b) {
    return b ? (double)a / b : 0.0;
}

/* "sim (simulated backend)", "Qwen/... (embedded engine)" */
static void print_backend(FILE *f, const char *what, const char *spec, const char *kind) {
    fprintf(f, "%s %s (%s)", what, spec[0] ? spec : "?",
            !strcmp(kind, "sim") ? "simulated backend" : !strcmp(kind, "remote") ? "remote server" : "embedded engine");
}

void pd_eval_print_table(const pd_eval_report *rep, int per_level, FILE *f) {
    if (rep->policy_backend[0]) {
        print_backend(f, "policy:", rep->policy, rep->policy_backend);
        print_backend(f, ", PRM:", rep->prm, rep->prm_backend);
        fputc('\n', f);
    }
    int seeds = rep->n_seeds > 1;
    fprintf(f, "%-15s %6s %8s %9s %7s%s %16s %10s\n", "strategy", "N", "naive", "weighted", "maj",
            seeds ? "   sd(w)" : "", "tokens/problem", "s/problem");
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        int last = c->n_k - 1;
        double np = c->problems ? c->problems : 1;
        fprintf(f, "%-15s %6d %8.3f %9.3f %7.3f", pd_strategy_name(c->strategy), c->n,
                ratio(c->correct[PD_SEL_NAIVE][last], c->problems),
                ratio(c->correct[PD_SEL_WEIGHTED][last], c->problems),
                ratio(c->correct[PD_SEL_MAJ][last], c->problems));
        if (seeds) {
            double mean = 0, m2 = 0;
            int k = 0;
            for (int s = 0; s < rep->n_seeds; s++) {
                if (!c->seed_problems[s]) continue;
                double a = ratio(c->seed_correct[PD_SEL_WEIGHTED][s], c->seed_problems[s]), d = a - mean;
                k++;
                mean += d / k;
                m2 += d * (a - mean);
            }
            fprintf(f, " %8.3f", k > 1 ? sqrt(m2 / (k - 1)) : 0.0);
        }
        fprintf(f, " %16.0f %10.3g\n", (c->policy_tokens + c->prefix_tokens) / np,
                c->timed ? (c->policy_s + c->prm_s) / c->timed : 0.0);
    }
    for (size_t i = 0; i < rep->n_cells; i++)
        if (rep->cells[i].strategy == PD_AUTO && rep->cells[i].problems)
            fprintf(f, "auto N=%d with the plan's own selection per problem: %.3f\n", rep->cells[i].n,
                    ratio(rep->cells[i].plan_correct, rep->cells[i].problems));
    if (!per_level || !rep->n_cells) return;
    const pd_eval_cell *c0 = &rep->cells[0];
    int any_level = 0;
    for (int lv = 1; lv <= PD_EVAL_MAX_LEVEL; lv++) any_level |= c0->level_problems[lv] != 0;
    if (any_level) {
        fprintf(f, "\nweighted accuracy by level:\n%-15s %6s", "strategy", "N");
        for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++)
            if (c0->level_problems[lv]) fprintf(f, "      L%-1d", lv);
        fputc('\n', f);
        for (size_t i = 0; i < rep->n_cells; i++) {
            const pd_eval_cell *c = &rep->cells[i];
            fprintf(f, "%-15s %6d", pd_strategy_name(c->strategy), c->n);
            for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++)
                if (c0->level_problems[lv])
                    fprintf(f, " %7.3f", ratio(c->level_correct[PD_SEL_WEIGHTED][lv], c->level_problems[lv]));
            fputc('\n', f);
        }
    }
    if (rep->n_subjects > 1) {
        fprintf(f, "\nweighted accuracy by subject:\n%-15s %6s", "strategy", "N");
        for (int s = 0; s < rep->n_subjects; s++) fprintf(f, " %12.12s", rep->subjects[s]);
        fputc('\n', f);
        for (size_t i = 0; i < rep->n_cells; i++) {
            const pd_eval_cell *c = &rep->cells[i];
            fprintf(f, "%-15s %6d", pd_strategy_name(c->strategy), c->n);
            for (int s = 0; s < rep->n_subjects; s++)
                fprintf(f, " %12.3f", ratio(c->subject_correct[PD_SEL_WEIGHTED][s], c->subject_problems[s]));
            fputc('\n', f);
        }
    }
}
