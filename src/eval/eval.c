/* eval.c — the benchmark runner: problems x strategies x budgets through the scheduler.
 *
 * All jobs (strategy, then N, then problem) go to one scheduler run so that the backend sees
 * wide batches across problems and strategies. Results arrive in completion order; each is
 * turned into its JSON line at once (the search's tree is freed right after) and kept in a
 * slot until every earlier job has been written, so results.jsonl is in job order whatever
 * the batching. Accuracy is tallied as results arrive; summary.json is written at the end.
 *
 * Answers are extracted, grouped and judged only through the grader (pd_grade_extract,
 * pd_grade_key via pd_select_pick, pd_grade_equal), the one notion of equivalence. */
#include "ponder/eval.h"
#include "ponder/grade.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
}

typedef struct run_ctx {
    const pd_eval_opts *o;
    const pd_dataset *ds;
    size_t n_prob;         /* problems used */
    pd_sched_job *jobs;
    size_t n_jobs;
    pd_eval_report *rep;
    FILE *out;             /* results.jsonl, or NULL */
    char **lines;          /* (n_jobs) serialized lines waiting for their turn */
    size_t next_line;      /* the next job to write */
    size_t done;
    double t0, last_progress;
} run_ctx;

/* A JSON string of s; when s is not valid UTF-8 (a backend's text cut mid-character, a path
 * in another encoding) its non-ASCII bytes become '?', so that no field is silently dropped. */
static json_t *jstr(const char *s) {
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    for (size_t i = 0; i <= n; i++) c[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    j = json_string(c);
    free(c);
    return j;
}

static const char *status_name(int s) {
    return s == PD_NODE_FINISHED ? "finished" : s == PD_NODE_TRUNCATED ? "truncated" : "open";
}

/* Fill a cell's k values: powers of two below N, then N. */
static void cell_ks(pd_eval_cell *c) {
    c->n_k = 0;
    for (int32_t k = 1; k < c->n && c->n_k < PD_EVAL_MAX_K - 1; k *= 2) c->ks[c->n_k++] = k;
    c->ks[c->n_k++] = c->n;
}

static int level_slot(int level) {
    return level < 0 ? 0 : level > PD_EVAL_MAX_LEVEL ? PD_EVAL_MAX_LEVEL : level;
}

/* One finished job: tally it and serialize its line. */
static int on_result(void *ud, size_t job, const pd_search_result *r, pd_error *err) {
    run_ctx *x = ud;
    const pd_sched_job *jb = &x->jobs[job];
    const pd_problem *p = jb->prob;
    size_t cell_i = job / x->n_prob;
    pd_eval_cell *cell = &x->rep->cells[cell_i];
    const char *gold = p->answer ? p->answer : "";

    json_t *o = json_object();
    if (!o) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    json_object_set_new(o, "id", jstr(p->id ? p->id : ""));
    json_object_set_new(o, "level", json_integer(p->level));
    json_object_set_new(o, "strategy", json_string(pd_strategy_name(jb->cfg.strategy)));
    json_object_set_new(o, "n", json_integer(jb->cfg.n));
    if (jb->cfg.strategy != PD_BEST_OF_N) {
        json_object_set_new(o, "beam_width", json_integer(jb->cfg.beam_width));
        json_object_set_new(o, "lookahead", json_integer(jb->cfg.lookahead));
    }
    json_object_set_new(o, "gold", jstr(gold));
    if (r->failed) { /* a backend request failed for good: recorded, and the run goes on */
        json_object_set_new(o, "failed", json_true());
        json_object_set_new(o, "error", jstr(r->error));
        cell->failed++;
        if (x->o->progress) fprintf(stderr, "\nponder eval: problem %s failed: %s\n", p->id ? p->id : "?", r->error);
    }
    json_t *comps = json_array();
    for (int32_t i = 0; i < r->n; i++) {
        const pd_completion *c = &r->c[i];
        json_t *jc = json_object();
        if (x->o->with_texts) json_object_set_new(jc, "text", jstr(c->text));
        json_t *rw = json_array();
        for (int32_t s = 0; s < c->n_steps; s++) json_array_append_new(rw, json_real(c->rewards[s]));
        json_object_set_new(jc, "step_rewards", rw);
        json_object_set_new(jc, "score", json_real(c->score));
        json_object_set_new(jc, "answer", c->answer ? jstr(c->answer) : json_null());
        json_object_set_new(jc, "correct", json_boolean(c->answer && pd_grade_equal(c->answer, gold)));
        json_object_set_new(jc, "status", json_string(status_name(c->status)));
        json_array_append_new(comps, jc);
    }
    json_object_set_new(o, "completions", comps);
    int lv = level_slot(p->level);
    cell->problems++;
    cell->level_problems[lv]++;
    for (int sel = 0; sel < PD_N_SELECT; sel++) {
        for (int32_t ki = 0; ki < cell->n_k; ki++) {
            int32_t k = cell->ks[ki];
            int32_t pick = pd_select_pick(r->c, r->n, k, (pd_select)sel);
            const char *ans = pick >= 0 ? r->c[pick].answer : NULL;
            int ok = ans && pd_grade_equal(ans, gold);
            char key[64];
            snprintf(key, sizeof key, "pred_%s@%d", pd_select_name((pd_select)sel), k);
            json_object_set_new(o, key, ans ? jstr(ans) : json_null());
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)sel), k);
            json_object_set_new(o, key, json_boolean(ok));
            cell->correct[sel][ki] += (uint32_t)ok;
            if (ki == cell->n_k - 1) cell->level_correct[sel][lv] += (uint32_t)ok;
        }
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
    cell->policy_tokens += (double)r->cost.policy_tokens;
    cell->prefix_tokens += (double)r->cost.prefix_tokens;
    cell->prm_tokens += (double)r->cost.prm_tokens;
    cell->policy_flops += r->cost.policy_flops;
    cell->prm_flops += r->cost.prm_flops;

    if (x->out) {
        char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(o);
        if (!line) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        x->lines[job] = line;
        while (x->next_line < x->n_jobs && x->lines[x->next_line]) {
            char *l = x->lines[x->next_line];
            int bad = fputs(l, x->out) < 0 || fputc('\n', x->out) == EOF;
            free(l);
            x->lines[x->next_line++] = NULL;
            if (bad) return pd_err_set(err, PD_EIO, "results.jsonl: write failed");
        }
    } else {
        json_decref(o);
    }
    x->done++;
    if (x->o->progress) {
        double now = pd_now();
        if (now - x->last_progress > 1.0 || x->done == x->n_jobs) {
            fprintf(stderr, "\r  %zu/%zu searches done (%.1f s)", x->done, x->n_jobs, now - x->t0);
            if (x->done == x->n_jobs) fputc('\n', stderr);
            x->last_progress = now;
        }
    }
    return 0;
}

static double ratio(uint32_t a, uint32_t b) {
    return b ? (double)a / b : 0.0;
}

/* Build summary.json. */
static json_t *summary_json(const pd_eval_report *rep, const pd_eval_opts *o, const pd_dataset *ds) {
    json_t *s = json_object();
    json_object_set_new(s, "policy", jstr(o->policy_spec ? o->policy_spec : ""));
    json_object_set_new(s, "prm", jstr(o->prm_spec ? o->prm_spec : ""));
    json_object_set_new(s, "dataset", jstr(o->dataset ? o->dataset : ""));
    json_object_set_new(s, "problems", json_integer((json_int_t)rep->n_problems));
    json_object_set_new(s, "skipped_lines", json_integer((json_int_t)rep->n_skipped));
    json_t *sk = json_array();
    for (size_t i = 0; i < ds->n_skipped && ds->skipped_msgs; i++)
        json_array_append_new(sk, jstr(ds->skipped_msgs[i] ? ds->skipped_msgs[i] : ""));
    json_object_set_new(s, "skipped", sk);
    json_t *cfg = json_object();
    json_object_set_new(cfg, "beam_width", json_integer(o->base.beam_width));
    json_object_set_new(cfg, "num_iterations", json_integer(o->base.num_iterations));
    json_object_set_new(cfg, "lookahead", json_integer(o->base.lookahead));
    json_object_set_new(cfg, "agg", json_string(pd_agg_name(o->base.agg)));
    json_object_set_new(cfg, "temperature", json_real(o->base.temperature));
    json_object_set_new(cfg, "top_p", json_real(o->base.top_p));
    json_object_set_new(cfg, "step_max_tokens", json_integer(o->base.step_max_tokens));
    json_object_set_new(cfg, "seed", json_integer((json_int_t)o->base.seed));
    json_object_set_new(s, "config", cfg);
    if (o->sim) {
        const pd_sim_params *p = o->sim;
        json_t *sim = json_object();
        json_object_set_new(sim, "policy_acc", json_real(p->policy_acc));
        json_object_set_new(sim, "acc_decay", json_real(p->acc_decay));
        json_object_set_new(sim, "default_level", json_integer(p->default_level));
        json_object_set_new(sim, "base_steps", json_integer(p->base_steps));
        json_object_set_new(sim, "distractor", json_real(p->distractor));
        json_object_set_new(sim, "wrong_spread", json_integer(p->wrong_spread));
        json_object_set_new(sim, "prm_sep", json_real(p->prm_sep));
        json_object_set_new(sim, "prm_noise", json_real(p->prm_noise));
        json_object_set_new(sim, "step_tokens", json_integer(p->step_tokens));
        json_object_set_new(sim, "policy_params", json_real(p->policy_params));
        json_object_set_new(sim, "prm_params", json_real(p->prm_params));
        json_object_set_new(s, "sim", sim);
    }
    json_t *res = json_array();
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        json_t *jc = json_object();
        json_object_set_new(jc, "strategy", json_string(pd_strategy_name(c->strategy)));
        json_object_set_new(jc, "n", json_integer(c->n));
        json_object_set_new(jc, "problems", json_integer(c->problems));
        json_object_set_new(jc, "failed", json_integer(c->failed));
        json_t *acc = json_object(), *atk = json_object();
        for (int sel = 0; sel < PD_N_SELECT; sel++) {
            const char *sn = pd_select_name((pd_select)sel);
            json_object_set_new(acc, sn, json_real(ratio(c->correct[sel][c->n_k - 1], c->problems)));
            json_t *byk = json_object();
            for (int32_t ki = 0; ki < c->n_k; ki++) {
                char kb[16];
                snprintf(kb, sizeof kb, "%d", c->ks[ki]);
                json_object_set_new(byk, kb, json_real(ratio(c->correct[sel][ki], c->problems)));
            }
            json_object_set_new(atk, sn, byk);
        }
        json_object_set_new(jc, "accuracy", acc);
        json_object_set_new(jc, "accuracy_at_k", atk);
        json_t *pl = json_object();
        for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++) {
            if (!c->level_problems[lv]) continue;
            json_t *jl = json_object();
            json_object_set_new(jl, "problems", json_integer(c->level_problems[lv]));
            for (int sel = 0; sel < PD_N_SELECT; sel++)
                json_object_set_new(jl, pd_select_name((pd_select)sel),
                                    json_real(ratio(c->level_correct[sel][lv], c->level_problems[lv])));
            char lb[16];
            snprintf(lb, sizeof lb, "%d", lv);
            json_object_set_new(pl, lb, jl);
        }
        json_object_set_new(jc, "per_level", pl);
        double np = c->problems ? c->problems : 1;
        json_t *cm = json_object();
        json_object_set_new(cm, "policy_tokens", json_real(c->policy_tokens / np));
        json_object_set_new(cm, "prefix_tokens", json_real(c->prefix_tokens / np));
        json_object_set_new(cm, "prm_tokens", json_real(c->prm_tokens / np));
        json_object_set_new(cm, "policy_flops", json_real(c->policy_flops / np));
        json_object_set_new(cm, "prm_flops", json_real(c->prm_flops / np));
        json_object_set_new(jc, "cost_per_problem", cm);
        json_array_append_new(res, jc);
    }
    json_object_set_new(s, "results", res);
    json_t *st = json_object();
    json_object_set_new(st, "rounds", json_integer((json_int_t)rep->stats.rounds));
    json_object_set_new(st, "policy_calls", json_integer((json_int_t)rep->stats.policy_calls));
    json_object_set_new(st, "verifier_calls", json_integer((json_int_t)rep->stats.verifier_calls));
    json_object_set_new(st, "expand_requests", json_integer((json_int_t)rep->stats.expand_reqs));
    json_object_set_new(st, "score_requests", json_integer((json_int_t)rep->stats.score_reqs));
    json_object_set_new(st, "nodes", json_integer((json_int_t)rep->stats.nodes));
    json_object_set_new(s, "scheduler", st);
    json_object_set_new(s, "seconds", json_real(rep->seconds));
    return s;
}

/* Join a directory and a file name. Returns malloc'd or NULL. */
static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int pd_eval_run(const pd_policy *pol, const pd_verifier *ver, const pd_dataset *ds,
                const pd_eval_opts *o, pd_eval_report *rep, pd_error *err) {
    memset(rep, 0, sizeof *rep);
    if (o->n_strategies < 1 || o->n_strategies > PD_N_STRATEGIES || o->n_ns < 1 ||
        o->n_ns > PD_EVAL_MAX_N)
        return pd_err_set(err, PD_EINVAL, "eval: need 1..%d strategies and 1..%d budgets",
                          PD_N_STRATEGIES, PD_EVAL_MAX_N);
    size_t n_prob = ds->n;
    if (o->limit && o->limit < n_prob) n_prob = o->limit;
    if (n_prob == 0) return pd_err_set(err, PD_EINVAL, "eval: the dataset has no problems");
    size_t n_cells = (size_t)o->n_strategies * (size_t)o->n_ns, n_jobs;
    if (pd_mul_size(n_cells, n_prob, &n_jobs)) return pd_err_set(err, PD_ENOMEM, "eval: too many jobs");
    /* check every configuration before doing any work */
    for (int si = 0; si < o->n_strategies; si++)
        for (int ni = 0; ni < o->n_ns; ni++) {
            pd_search_cfg c = o->base;
            c.strategy = o->strategies[si];
            c.n = o->ns[ni];
            if (c.strategy == PD_BEST_OF_N) c.lookahead = 0;
            int rc = pd_search_cfg_check(&c, err);
            if (rc) return rc;
        }
    run_ctx x = {0};
    x.o = o;
    x.ds = ds;
    x.n_prob = n_prob;
    x.n_jobs = n_jobs;
    x.rep = rep;
    x.jobs = calloc(n_jobs, sizeof *x.jobs);
    rep->cells = calloc(n_cells, sizeof *rep->cells);
    x.lines = calloc(n_jobs, sizeof *x.lines);
    int rc = 0;
    char *res_path = NULL, *sum_path = NULL;
    if (!x.jobs || !rep->cells || !x.lines) {
        rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        goto out;
    }
    rep->n_cells = n_cells;
    rep->n_problems = n_prob;
    rep->n_skipped = ds->n_skipped;
    for (int si = 0; si < o->n_strategies; si++)
        for (int ni = 0; ni < o->n_ns; ni++) {
            size_t ci = (size_t)si * (size_t)o->n_ns + (size_t)ni;
            pd_eval_cell *cell = &rep->cells[ci];
            cell->strategy = o->strategies[si];
            cell->n = o->ns[ni];
            cell_ks(cell);
            for (size_t pi = 0; pi < n_prob; pi++) {
                pd_sched_job *j = &x.jobs[ci * n_prob + pi];
                j->prob = &ds->items[pi];
                j->cfg = o->base;
                j->cfg.strategy = cell->strategy;
                j->cfg.n = cell->n;
                if (cell->strategy == PD_BEST_OF_N) j->cfg.lookahead = 0;
            }
        }
    if (o->out_dir) {
        if ((rc = pd_mkdirs(o->out_dir, err))) goto out;
        res_path = join(o->out_dir, "results.jsonl");
        sum_path = join(o->out_dir, "summary.json");
        if (!res_path || !sum_path) {
            rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
            goto out;
        }
        x.out = fopen(res_path, "w");
        if (!x.out) {
            rc = pd_err_set(err, PD_EIO, "%s: cannot open for writing", res_path);
            goto out;
        }
    }
    x.t0 = x.last_progress = pd_now();
    rc = pd_sched_run(pol, ver, x.jobs, n_jobs, o->max_inflight, on_result, &x, &rep->stats, err);
    rep->seconds = pd_now() - x.t0;
    if (rc) goto out;
    if (x.out) {
        int bad = fclose(x.out) != 0;
        x.out = NULL;
        if (bad) {
            rc = pd_err_set(err, PD_EIO, "%s: write failed", res_path);
            goto out;
        }
        json_t *s = summary_json(rep, o, ds);
        if (!s || json_dump_file(s, sum_path, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) != 0)
            rc = pd_err_set(err, PD_EIO, "%s: write failed", sum_path);
        json_decref(s);
    }
out:
    if (x.out) fclose(x.out);
    if (x.lines)
        for (size_t i = 0; i < n_jobs; i++) free(x.lines[i]);
    free(x.lines);
    free(x.jobs);
    free(res_path);
    free(sum_path);
    if (rc) pd_eval_report_free(rep);
    return rc;
}

void pd_eval_report_free(pd_eval_report *rep) {
    if (!rep) return;
    free(rep->cells);
    memset(rep, 0, sizeof *rep);
}

void pd_eval_print_table(const pd_eval_report *rep, int per_level, FILE *f) {
    fprintf(f, "%-12s %6s %8s %9s %7s %16s\n", "strategy", "N", "naive", "weighted", "maj",
            "tokens/problem");
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        int last = c->n_k - 1;
        double np = c->problems ? c->problems : 1;
        fprintf(f, "%-12s %6d %8.3f %9.3f %7.3f %16.0f\n", pd_strategy_name(c->strategy), c->n,
                ratio(c->correct[PD_SEL_NAIVE][last], c->problems),
                ratio(c->correct[PD_SEL_WEIGHTED][last], c->problems),
                ratio(c->correct[PD_SEL_MAJ][last], c->problems),
                (c->policy_tokens + c->prefix_tokens) / np);
    }
    if (!per_level || !rep->n_cells) return;
    fprintf(f, "\nweighted accuracy by level:\n%-12s %6s", "strategy", "N");
    const pd_eval_cell *c0 = &rep->cells[0];
    for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++)
        if (c0->level_problems[lv]) fprintf(f, "      L%-1d", lv);
    fputc('\n', f);
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *c = &rep->cells[i];
        fprintf(f, "%-12s %6d", pd_strategy_name(c->strategy), c->n);
        for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++)
            if (c0->level_problems[lv])
                fprintf(f, " %7.3f", ratio(c->level_correct[PD_SEL_WEIGHTED][lv], c->level_problems[lv]));
        fputc('\n', f);
    }
}
