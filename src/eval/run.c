/* run.c — run directories: config.json, tallying results lines, summary.json, summarize,
 * merge, reading a stored configuration back.
 *
 * A run is described by config.json, written once when it starts. Every number in
 * summary.json is recomputed from results.jsonl lines through one function, pd_eval_tally,
 * whether the lines were just produced (the runner), found when resuming, or read by
 * `ponder summarize` / `ponder merge`: there is one notion of what a line means.
 *
 * Each line is keyed by (seed, strategy, N, problem id). Resuming and merging rely on the
 * keys: a key twice, or a key that is not the run's, means the directory is damaged or mixes
 * runs, and is refused rather than guessed around. Lines are whole or torn: a writer appends
 * one line with one write() and a kill can only cut the last one, which readers leave out
 * (and a resume cuts off the file). */
#include "eval_int.h"
#include "ponder/model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the key map ---- */

static size_t km_slot(const pd_keymap *m, const char *key) {
    size_t i = (size_t)pd_hash_str(0x51ed270b27e4c1a3ull, key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

static int km_grow(pd_keymap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (cap > SIZE_MAX / 2 / sizeof(char *)) return PD_ENOMEM;
    pd_keymap t = {calloc(cap, sizeof(char *)), calloc(cap, sizeof(size_t)), cap, m->n};
    if (!t.keys || !t.vals) {
        free(t.keys);
        free(t.vals);
        return PD_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = km_slot(&t, m->keys[i]);
            t.keys[j] = m->keys[i];
            t.vals[j] = m->vals[i];
        }
    free(m->keys);
    free(m->vals);
    *m = t;
    return 0;
}

int pd_keymap_put(pd_keymap *m, const char *key, size_t val, size_t *old) {
    if ((m->n + 1) * 2 > m->cap && km_grow(m)) return PD_ENOMEM;
    size_t i = km_slot(m, key);
    if (m->keys[i]) {
        if (old) *old = m->vals[i];
        return 1;
    }
    size_t n = strlen(key);
    if (!(m->keys[i] = malloc(n + 1))) return PD_ENOMEM;
    memcpy(m->keys[i], key, n + 1);
    m->vals[i] = val;
    m->n++;
    return 0;
}

int pd_keymap_get(const pd_keymap *m, const char *key, size_t *val) {
    if (!m->cap) return 0;
    size_t i = km_slot(m, key);
    if (!m->keys[i]) return 0;
    *val = m->vals[i];
    return 1;
}

void pd_keymap_free(pd_keymap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int pd_eval_job_key(pd_buf *b, uint64_t seed, const char *strategy, int32_t n, const char *id) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
    return pd_buf_printf(b, "%llu %s %d %s", (unsigned long long)seed, strategy, n, id);
}

int pd_eval_line_key(const json_t *line, pd_buf *b) {
    json_t *id = json_object_get(line, "id"), *st = json_object_get(line, "strategy"),
           *n = json_object_get(line, "n"), *seed = json_object_get(line, "seed");
    if (!json_is_string(id) || !json_is_string(st) || !json_is_integer(n) || !json_is_integer(seed)) return -1;
    return pd_eval_job_key(b, (uint64_t)json_integer_value(seed), json_string_value(st), (int32_t)json_integer_value(n),
                           json_string_value(id)) ? -1 : 0;
}

/* ---- files ---- */

char *pd_eval_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int pd_eval_dir_nonempty(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return -1;
    DIR *d = opendir(path);
    if (!d) return 1; /* unreadable: not known to be empty */
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d)))
        any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

int pd_eval_write_json(const char *path, json_t *j, size_t flags, pd_error *err) {
    char *s = j ? json_dumps(j, flags) : NULL;
    if (!s) return pd_err_set(err, PD_ENOMEM, "%s: out of memory (or a string that is not UTF-8)", path);
    size_t n = strlen(s);
    pd_buf tmp = {0};
    int rc = pd_buf_printf(&tmp, "%s.tmp", path) ? pd_err_set(err, PD_ENOMEM, "%s: out of memory", path) : 0;
    if (!rc) {
        s[n] = 0;
        int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) rc = pd_err_set(err, PD_EIO, "%s: cannot create: %s", tmp.data, strerror(errno));
        else {
            size_t off = 0;
            while (off < n && !rc) {
                ssize_t w = write(fd, s + off, n - off);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) rc = pd_err_set(err, PD_EIO, "%s: write failed: %s", tmp.data, strerror(errno));
                else off += (size_t)w;
            }
            if (!rc && (write(fd, "\n", 1) != 1 || fsync(fd) != 0))
                rc = pd_err_set(err, PD_EIO, "%s: write failed: %s", tmp.data, strerror(errno));
            if (close(fd) != 0 && !rc) rc = pd_err_set(err, PD_EIO, "%s: write failed: %s", tmp.data, strerror(errno));
            if (!rc && rename(tmp.data, path) != 0)
                rc = pd_err_set(err, PD_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
            if (rc) unlink(tmp.data);
        }
    }
    pd_buf_free(&tmp);
    free(s);
    return rc;
}

int pd_eval_read_jsonl(const char *path, int cut_torn, pd_jsonl_fn fn, void *ud, size_t *torn, pd_error *err) {
    *torn = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : pd_err_set(err, PD_EIO, "%s: cannot read: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    off_t off = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len == 0 || line[len - 1] != '\n') { /* the torn last line */
            *torn = (size_t)len;
            break;
        }
        off += len;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len - 1, JSON_REJECT_DUPLICATES, &je);
        if (!j || !json_is_object(j)) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: not a JSON object%s%s (the file is damaged: lines are only "
                            "ever appended whole)", path, lineno, j ? "" : ": ", j ? "" : je.text);
            json_decref(j);
            break;
        }
        rc = fn(ud, j, lineno, err);
        json_decref(j);
    }
    if (!rc && ferror(f)) rc = pd_err_set(err, PD_EIO, "%s: read error after line %zu", path, lineno);
    free(line);
    fclose(f);
    if (!rc && *torn && cut_torn && truncate(path, off) != 0)
        rc = pd_err_set(err, PD_EIO, "%s: cannot cut the torn last line: %s", path, strerror(errno));
    return rc;
}

/* ---- configuration ---- */

json_t *pd_eval_jstr(const char *s) {
    if (!s) return json_null();
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

/* A string member, or "" when absent. */
static const char *sv(const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static double num(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

size_t pd_eval_shard_size(size_t n, int index, int count) {
    if (count <= 1) return n;
    return (size_t)index < n ? (n - (size_t)index + (size_t)count - 1) / (size_t)count : 0;
}

static json_t *sim_json(const pd_sim_params *p) {
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
    return sim;
}

json_t *pd_eval_config_json(const pd_eval_opts *o, const pd_dataset *ds, size_t n_used) {
    json_t *c = json_object();
    if (!c) return NULL;
    json_object_set_new(c, "ponder_run", json_integer(1));
    json_object_set_new(c, "policy", pd_eval_jstr(o->policy_spec ? o->policy_spec : ""));
    json_object_set_new(c, "prm", pd_eval_jstr(o->prm_spec ? o->prm_spec : ""));
    json_t *be = json_object();
    json_object_set_new(be, "policy", json_string(pd_eval_backend_kind(o->policy_spec)));
    json_object_set_new(be, "prm", json_string(pd_eval_backend_kind(o->prm_spec)));
    json_object_set_new(c, "backend", be);
    json_object_set_new(c, "dataset", pd_eval_jstr(o->dataset ? o->dataset : ""));
    if (o->dataset_split) json_object_set_new(c, "dataset_split", pd_eval_jstr(o->dataset_split));
    if (o->dataset_start) json_object_set_new(c, "dataset_start", json_integer((json_int_t)o->dataset_start));
    if (o->dataset_end) json_object_set_new(c, "dataset_end", json_integer((json_int_t)o->dataset_end));
    /* the problems used, in order: a resume or a shard must see the same ones */
    uint64_t h = 0x70d3a5e7c0ffee11ull;
    for (size_t i = 0; i < n_used; i++) {
        const pd_problem *p = &ds->items[i];
        h = pd_hash_str(h, p->id ? p->id : "");
        h = pd_hash_str(h, p->problem ? p->problem : "");
        h = pd_hash_str(h, p->answer ? p->answer : "");
        h = pd_hash_mix(h, (uint64_t)(int64_t)p->level);
        h = pd_hash_str(h, pd_dataset_subject(ds, i) ? pd_dataset_subject(ds, i) : "");
    }
    char hex[24];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    json_object_set_new(c, "dataset_problems", json_integer((json_int_t)n_used));
    json_object_set_new(c, "dataset_fingerprint", json_string(hex));
    json_t *sk = json_array();
    for (size_t i = 0; i < ds->n_skipped && ds->skipped_msgs; i++)
        json_array_append_new(sk, pd_eval_jstr(ds->skipped_msgs[i] ? ds->skipped_msgs[i] : ""));
    json_object_set_new(c, "dataset_skipped", sk);
    json_object_set_new(c, "limit", json_integer((json_int_t)o->limit));
    json_t *st = json_array(), *ns = json_array(), *seeds = json_array();
    for (int i = 0; i < o->n_strategies; i++) json_array_append_new(st, json_string(pd_strategy_name(o->strategies[i])));
    for (int i = 0; i < o->n_ns; i++) json_array_append_new(ns, json_integer(o->ns[i]));
    if (o->n_seeds <= 0) json_array_append_new(seeds, json_integer((json_int_t)o->base.seed));
    for (int i = 0; i < o->n_seeds; i++) json_array_append_new(seeds, json_integer((json_int_t)o->seeds[i]));
    json_object_set_new(c, "strategies", st);
    if (o->plan) { /* strategy auto: the plan's file and a fingerprint of what it says */
        const pd_auto_plan *p = o->plan;
        pd_buf t = {0};
        pd_buf_printf(&t, "%d %d %d", p->statistic, p->probe_samples, p->n_bins);
        for (int b = 0; b + 1 < p->n_bins; b++) pd_buf_printf(&t, " %.17g", p->thresholds[b]);
        for (int i = 0; i < p->n_budgets; i++) {
            pd_buf_printf(&t, " | %d:", p->budgets[i]);
            for (int b = 0; b < p->n_bins; b++) {
                const pd_plan_choice *ch = &p->choice[i][b];
                pd_buf_printf(&t, " %d/%d/%d/%d", ch->strategy, ch->sel, ch->n, ch->beam_width);
            }
        }
        char hx[24];
        snprintf(hx, sizeof hx, "%016llx", (unsigned long long)pd_hash_str(0x706c616e, t.data ? t.data : ""));
        pd_buf_free(&t);
        json_object_set_new(c, "plan", pd_eval_jstr(o->plan_path ? o->plan_path : ""));
        json_object_set_new(c, "plan_fingerprint", json_string(hx));
    }
    json_object_set_new(c, "n", ns);
    json_object_set_new(c, "seeds", seeds);
    json_t *cfg = json_object();
    json_object_set_new(cfg, "beam_width", json_integer(o->base.beam_width));
    json_object_set_new(cfg, "num_iterations", json_integer(o->base.num_iterations));
    json_object_set_new(cfg, "lookahead", json_integer(o->base.lookahead));
    json_object_set_new(cfg, "agg", json_string(pd_agg_name(o->base.agg)));
    json_object_set_new(cfg, "temperature", json_real(o->base.temperature));
    json_object_set_new(cfg, "top_p", json_real(o->base.top_p));
    json_object_set_new(cfg, "step_max_tokens", json_integer(o->base.step_max_tokens));
    json_object_set_new(cfg, "resample", json_integer(o->base.resample));
    json_object_set_new(cfg, "ess_threshold", json_real(o->base.ess_threshold));
    json_object_set_new(cfg, "pf_temperature", json_real(o->base.pf_temperature));
    json_object_set_new(cfg, "rebase_temperature", json_real(o->base.rebase_temperature));
    json_object_set_new(cfg, "deepconf_warmup", json_integer(o->base.deepconf_warmup));
    json_object_set_new(cfg, "deepconf_keep", json_real(o->base.deepconf_keep));
    json_object_set_new(cfg, "conf_window", json_integer(o->base.conf_window));
    json_object_set_new(cfg, "vote_wave", json_integer(o->base.vote_wave));
    json_object_set_new(c, "search", cfg);
    if (o->sim) json_object_set_new(c, "sim", sim_json(o->sim));
    if (o->backend) {
        const pd_backend_opts *b = o->backend;
        json_t *bo = json_object();
        json_object_set_new(bo, "system_prompt", pd_eval_jstr(b->system_prompt));
        json_object_set_new(bo, "step_delimiter", pd_eval_jstr(b->step_delimiter));
        json_object_set_new(bo, "prm_kind", json_integer(b->prm_kind));
        json_object_set_new(bo, "prm_step_tag", pd_eval_jstr(b->prm_step_tag));
        json_object_set_new(bo, "prm_good_token", pd_eval_jstr(b->prm_good_token));
        json_object_set_new(bo, "prm_bad_token", pd_eval_jstr(b->prm_bad_token));
        json_object_set_new(bo, "prm_system_prompt", pd_eval_jstr(b->prm_system_prompt));
        /* the precision the local models run (written only when not exact, so that runs made
         * before the option existed still read as what they were) */
        pd_precision pp = pd_precision_resolve((pd_precision)b->precision);
        pd_precision vp = b->prm_precision ? pd_precision_resolve((pd_precision)b->prm_precision) : pp;
        if (pp == PD_PRECISION_BF16) json_object_set_new(bo, "precision", json_string("bf16"));
        if (vp == PD_PRECISION_BF16) json_object_set_new(bo, "prm_precision", json_string("bf16"));
        json_object_set_new(c, "backend_opts", bo);
    }
    json_object_set_new(c, "with_texts", json_boolean(o->with_texts));
    json_t *sh = json_object();
    json_object_set_new(sh, "index", json_integer(o->shard_count > 1 ? o->shard_index : 0));
    json_object_set_new(sh, "count", json_integer(o->shard_count > 1 ? o->shard_count : 1));
    json_object_set_new(c, "shard", sh);
    return c;
}

/* Append "what" for a difference at dotted key `key`. */
static void diff_add(pd_buf *d, const char *key, const json_t *a, const json_t *b) {
    char *sa = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *sb = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (d->len) pd_buf_puts(d, "; ");
    pd_buf_printf(d, "%s: %.80s in the run, %.80s now", key, sa ? sa : "(absent)", sb ? sb : "(absent)");
    free(sa);
    free(sb);
}

static int diff_rec(const json_t *a, const json_t *b, const char *prefix, const char *const *skip, pd_buf *d) {
    int n = 0;
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            int skipped = 0;
            for (const char *const *s = skip; !prefix[0] && s && *s && !skipped; s++) skipped = !strcmp(*s, k);
            if (skipped) continue;
            char key[160];
            snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
            n += diff_rec(v, json_object_get(b, k), key, NULL, d);
        }
        json_object_foreach((json_t *)b, k, v) {
            int skipped = 0;
            for (const char *const *s = skip; !prefix[0] && s && *s && !skipped; s++) skipped = !strcmp(*s, k);
            if (skipped || json_object_get(a, k)) continue;
            char key[160];
            snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", k);
            diff_add(d, key, NULL, v);
            n++;
        }
        return n;
    }
    if (a && b && json_equal((json_t *)a, (json_t *)b)) return 0;
    diff_add(d, prefix, a, b);
    return 1;
}

int pd_eval_config_diff(const json_t *saved, const json_t *now, const char *const *skip, pd_buf *diff) {
    return diff_rec(saved, now, "", skip, diff);
}

/* ---- tallies ---- */

int pd_eval_report_init(pd_eval_report *rep, const json_t *c, pd_error *err) {
    memset(rep, 0, sizeof *rep);
    json_t *st = json_object_get(c, "strategies"), *ns = json_object_get(c, "n"), *seeds = json_object_get(c, "seeds");
    json_t *sh = json_object_get(c, "shard");
    json_int_t np = json_integer_value(json_object_get(c, "dataset_problems"));
    json_int_t si = json_integer_value(json_object_get(sh, "index")), sc = json_integer_value(json_object_get(sh, "count"));
    if (!json_is_array(st) || !json_array_size(st) || !json_is_array(ns) || !json_array_size(ns) ||
        json_array_size(ns) > PD_EVAL_MAX_N || !json_is_array(seeds) || !json_array_size(seeds) ||
        json_array_size(seeds) > PD_EVAL_MAX_SEEDS || np < 0 || sc < 1 || si < 0 || si >= sc || sc > 1000000)
        return pd_err_set(err, PD_EFORMAT, "config.json: strategies, n, seeds, dataset_problems or shard missing "
                                           "or out of range");
    size_t n_st = json_array_size(st), n_n = json_array_size(ns);
    rep->cells = calloc(n_st * n_n, sizeof *rep->cells);
    if (!rep->cells) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    rep->n_cells = n_st * n_n;
    for (size_t s = 0; s < n_st; s++) {
        pd_strategy strat;
        if (!json_is_string(json_array_get(st, s)) || pd_strategy_parse(json_string_value(json_array_get(st, s)), &strat)) {
            pd_eval_report_free(rep);
            return pd_err_set(err, PD_EFORMAT, "config.json: strategy %zu is not one this ponder knows", s + 1);
        }
        for (size_t k = 0; k < n_n; k++) {
            pd_eval_cell *cell = &rep->cells[s * n_n + k];
            json_int_t n = json_integer_value(json_array_get(ns, k));
            if (n < 1 || n > (1 << 24)) {
                pd_eval_report_free(rep);
                return pd_err_set(err, PD_EFORMAT, "config.json: budget %zu out of range", k + 1);
            }
            cell->strategy = strat;
            cell->n = (int32_t)n;
            cell->n_k = 0;
            for (int32_t kk = 1; kk < cell->n && cell->n_k < PD_EVAL_MAX_K - 1; kk *= 2) cell->ks[cell->n_k++] = kk;
            cell->ks[cell->n_k++] = cell->n;
        }
    }
    rep->n_seeds = (int)json_array_size(seeds);
    for (int i = 0; i < rep->n_seeds; i++) rep->seeds[i] = (uint64_t)json_integer_value(json_array_get(seeds, (size_t)i));
    rep->n_problems = pd_eval_shard_size((size_t)np, (int)si, (int)sc);
    rep->n_jobs = rep->n_problems * rep->n_cells * (size_t)rep->n_seeds;
    rep->n_skipped = json_array_size(json_object_get(c, "dataset_skipped"));
    snprintf(rep->policy, sizeof rep->policy, "%s", sv(c, "policy"));
    snprintf(rep->prm, sizeof rep->prm, "%s", sv(c, "prm"));
    snprintf(rep->policy_backend, sizeof rep->policy_backend, "%s", pd_eval_backend_kind(rep->policy));
    snprintf(rep->prm_backend, sizeof rep->prm_backend, "%s", pd_eval_backend_kind(rep->prm));
    return 0;
}

/* The slot of subject s (added when new); past the last slot everything is "other". */
static int subject_slot(pd_eval_report *rep, const char *s) {
    for (int i = 0; i < rep->n_subjects; i++)
        if (!strcmp(rep->subjects[i], s)) return i;
    if (rep->n_subjects < PD_EVAL_MAX_SUBJECTS - 1) {
        snprintf(rep->subjects[rep->n_subjects], sizeof rep->subjects[0], "%s", s);
        return rep->n_subjects++;
    }
    if (rep->n_subjects == PD_EVAL_MAX_SUBJECTS - 1)
        snprintf(rep->subjects[rep->n_subjects++], sizeof rep->subjects[0], "other");
    return PD_EVAL_MAX_SUBJECTS - 1;
}

int pd_eval_tally(pd_eval_report *rep, const json_t *line, const char **why) {
    const char *st = json_string_value(json_object_get(line, "strategy"));
    json_t *jn = json_object_get(line, "n"), *js = json_object_get(line, "seed");
    if (!st || !json_is_integer(jn) || !json_is_integer(js)) {
        *why = "no strategy, n or seed";
        return -1;
    }
    int cell_i = -1;
    for (size_t i = 0; i < rep->n_cells && cell_i < 0; i++)
        if (!strcmp(pd_strategy_name(rep->cells[i].strategy), st) && rep->cells[i].n == json_integer_value(jn))
            cell_i = (int)i;
    int seed_i = -1;
    for (int i = 0; i < rep->n_seeds && seed_i < 0; i++)
        if (rep->seeds[i] == (uint64_t)json_integer_value(js)) seed_i = i;
    if (cell_i < 0 || seed_i < 0) {
        *why = "a strategy, budget or seed that is not the run's";
        return -1;
    }
    pd_eval_cell *cell = &rep->cells[cell_i];
    int ok[PD_N_SELECT][PD_EVAL_MAX_K];
    for (int sel = 0; sel < PD_N_SELECT; sel++)
        for (int32_t ki = 0; ki < cell->n_k; ki++) {
            char key[64];
            snprintf(key, sizeof key, "correct_%s@%d", pd_select_name((pd_select)sel), cell->ks[ki]);
            json_t *v = json_object_get(line, key);
            if (!json_is_boolean(v)) {
                *why = "a correct_<selection>@<k> field missing";
                return -1;
            }
            ok[sel][ki] = json_is_true(v);
        }
    json_int_t level = json_integer_value(json_object_get(line, "level"));
    int lv = level < 0 ? 0 : level > PD_EVAL_MAX_LEVEL ? PD_EVAL_MAX_LEVEL : (int)level;
    const char *subj = json_string_value(json_object_get(line, "subject"));
    int sj = subj && *subj ? subject_slot(rep, subj) : -1;
    int last = cell->n_k - 1;
    cell->problems++;
    cell->level_problems[lv]++;
    cell->seed_problems[seed_i]++;
    if (sj >= 0) cell->subject_problems[sj]++;
    for (int sel = 0; sel < PD_N_SELECT; sel++) {
        for (int32_t ki = 0; ki < cell->n_k; ki++) cell->correct[sel][ki] += (uint32_t)ok[sel][ki];
        cell->level_correct[sel][lv] += (uint32_t)ok[sel][last];
        cell->seed_correct[sel][seed_i] += (uint32_t)ok[sel][last];
        if (sj >= 0) cell->subject_correct[sel][sj] += (uint32_t)ok[sel][last];
    }
    json_t *cost = json_object_get(line, "cost");
    cell->policy_tokens += num(cost, "policy_tokens");
    cell->prefix_tokens += num(cost, "prefix_tokens");
    cell->prm_tokens += num(cost, "prm_tokens");
    cell->policy_flops += num(cost, "policy_flops");
    cell->prm_flops += num(cost, "prm_flops");
    cell->failed += json_is_true(json_object_get(line, "failed"));
    cell->plan_correct += json_is_true(json_object_get(line, "correct_plan"));
    cell->level_plan_correct[lv] += json_is_true(json_object_get(line, "correct_plan"));
    rep->n_done++;
    return cell_i;
}

/* ---- summary.json ---- */

static double ratio(uint32_t a, uint32_t b) {
    return b ? (double)a / b : 0.0;
}

json_t *pd_eval_summary_json(const pd_eval_report *rep, const json_t *c, int with_session) {
    json_t *s = json_object();
    if (!s) return NULL;
    json_object_set(s, "policy", json_object_get(c, "policy"));
    json_object_set(s, "prm", json_object_get(c, "prm"));
    json_t *be = json_object();
    json_object_set_new(be, "policy", json_string(rep->policy_backend));
    json_object_set_new(be, "prm", json_string(rep->prm_backend));
    json_object_set_new(s, "backend", be);
    json_object_set(s, "dataset", json_object_get(c, "dataset"));
    json_object_set_new(s, "problems", json_integer((json_int_t)rep->n_problems));
    json_object_set_new(s, "skipped_lines", json_integer((json_int_t)rep->n_skipped));
    json_t *sk = json_object_get(c, "dataset_skipped");
    json_object_set_new(s, "skipped", sk ? json_incref(sk) : json_array());
    json_object_set(s, "shard", json_object_get(c, "shard"));
    json_object_set_new(s, "searches", json_integer((json_int_t)rep->n_jobs));
    json_object_set_new(s, "done", json_integer((json_int_t)rep->n_done));
    json_object_set_new(s, "complete", json_boolean(rep->n_done == rep->n_jobs));
    json_t *cfg = json_deep_copy(json_object_get(c, "search"));
    if (!cfg) cfg = json_object();
    json_object_set_new(cfg, "seed", json_integer(rep->n_seeds ? (json_int_t)rep->seeds[0] : 0));
    json_object_set(cfg, "seeds", json_object_get(c, "seeds"));
    json_object_set_new(s, "config", cfg);
    if (json_object_get(c, "sim")) json_object_set(s, "sim", json_object_get(c, "sim"));
    json_t *subjects = json_array();
    for (int i = 0; i < rep->n_subjects; i++) json_array_append_new(subjects, json_string(rep->subjects[i]));
    json_object_set_new(s, "subjects", subjects);
    json_t *res = json_array();
    for (size_t i = 0; i < rep->n_cells; i++) {
        const pd_eval_cell *cl = &rep->cells[i];
        int last = cl->n_k - 1;
        json_t *jc = json_object();
        json_object_set_new(jc, "strategy", json_string(pd_strategy_name(cl->strategy)));
        json_object_set_new(jc, "n", json_integer(cl->n));
        json_object_set_new(jc, "problems", json_integer(cl->problems));
        json_object_set_new(jc, "failed", json_integer(cl->failed));
        json_t *acc = json_object(), *atk = json_object(), *aseed = json_object(), *astd = json_object();
        for (int sel = 0; sel < PD_N_SELECT; sel++) {
            const char *sn = pd_select_name((pd_select)sel);
            json_object_set_new(acc, sn, json_real(ratio(cl->correct[sel][last], cl->problems)));
            json_t *byk = json_object();
            for (int32_t ki = 0; ki < cl->n_k; ki++) {
                char kb[16];
                snprintf(kb, sizeof kb, "%d", cl->ks[ki]);
                json_object_set_new(byk, kb, json_real(ratio(cl->correct[sel][ki], cl->problems)));
            }
            json_object_set_new(atk, sn, byk);
            /* per seed, and the sample standard deviation over seeds */
            json_t *per = json_array();
            double mean = 0, m2 = 0;
            int k = 0;
            for (int sd = 0; sd < rep->n_seeds; sd++) {
                if (!cl->seed_problems[sd]) continue;
                double a = ratio(cl->seed_correct[sel][sd], cl->seed_problems[sd]);
                json_array_append_new(per, json_real(a));
                k++;
                double d = a - mean;
                mean += d / k;
                m2 += d * (a - mean);
            }
            json_object_set_new(aseed, sn, per);
            json_object_set_new(astd, sn, json_real(k > 1 ? sqrt(m2 / (k - 1)) : 0.0));
        }
        json_object_set_new(jc, "accuracy", acc);
        if (cl->strategy == PD_AUTO) /* with the plan's own selection per problem */
            json_object_set_new(jc, "accuracy_plan", json_real(ratio(cl->plan_correct, cl->problems)));
        json_object_set_new(jc, "accuracy_at_k", atk);
        json_object_set_new(jc, "accuracy_per_seed", aseed);
        json_object_set_new(jc, "accuracy_std", astd);
        json_t *pl = json_object();
        for (int lv = 0; lv <= PD_EVAL_MAX_LEVEL; lv++) {
            if (!cl->level_problems[lv]) continue;
            json_t *jl = json_object();
            json_object_set_new(jl, "problems", json_integer(cl->level_problems[lv]));
            for (int sel = 0; sel < PD_N_SELECT; sel++)
                json_object_set_new(jl, pd_select_name((pd_select)sel),
                                    json_real(ratio(cl->level_correct[sel][lv], cl->level_problems[lv])));
            char lb[16];
            snprintf(lb, sizeof lb, "%d", lv);
            json_object_set_new(pl, lb, jl);
        }
        json_object_set_new(jc, "per_level", pl);
        json_t *ps = json_object();
        for (int sj = 0; sj < rep->n_subjects; sj++) {
            if (!cl->subject_problems[sj]) continue;
            json_t *js = json_object();
            json_object_set_new(js, "problems", json_integer(cl->subject_problems[sj]));
            for (int sel = 0; sel < PD_N_SELECT; sel++)
                json_object_set_new(js, pd_select_name((pd_select)sel),
                                    json_real(ratio(cl->subject_correct[sel][sj], cl->subject_problems[sj])));
            json_object_set_new(ps, rep->subjects[sj], js);
        }
        json_object_set_new(jc, "per_subject", ps);
        double np = cl->problems ? cl->problems : 1, nt = cl->timed ? cl->timed : 1;
        json_t *cm = json_object();
        json_object_set_new(cm, "policy_tokens", json_real(cl->policy_tokens / np));
        json_object_set_new(cm, "prefix_tokens", json_real(cl->prefix_tokens / np));
        json_object_set_new(cm, "prm_tokens", json_real(cl->prm_tokens / np));
        json_object_set_new(cm, "policy_flops", json_real(cl->policy_flops / np));
        json_object_set_new(cm, "prm_flops", json_real(cl->prm_flops / np));
        json_object_set_new(cm, "policy_s", json_real(cl->policy_s / nt));
        json_object_set_new(cm, "prm_s", json_real(cl->prm_s / nt));
        json_object_set_new(cm, "wall_s", json_real((cl->policy_s + cl->prm_s) / nt));
        json_object_set_new(cm, "timed", json_integer(cl->timed));
        json_object_set_new(jc, "cost_per_problem", cm);
        json_array_append_new(res, jc);
    }
    json_object_set_new(s, "results", res);
    if (with_session) {
        json_t *st = json_object();
        json_object_set_new(st, "rounds", json_integer((json_int_t)rep->stats.rounds));
        json_object_set_new(st, "policy_calls", json_integer((json_int_t)rep->stats.policy_calls));
        json_object_set_new(st, "verifier_calls", json_integer((json_int_t)rep->stats.verifier_calls));
        json_object_set_new(st, "expand_requests", json_integer((json_int_t)rep->stats.expand_reqs));
        json_object_set_new(st, "score_requests", json_integer((json_int_t)rep->stats.score_reqs));
        json_object_set_new(st, "nodes", json_integer((json_int_t)rep->stats.nodes));
        json_object_set_new(s, "scheduler", st);
        json_object_set_new(s, "seconds", json_real(rep->seconds));
        json_object_set_new(s, "resumed", json_integer((json_int_t)rep->n_resumed));
    }
    return s;
}

/* ---- summarize: rebuild the tallies from the files ---- */

typedef struct sum_ctx {
    pd_eval_report *rep;
    pd_keymap keys;      /* key -> slot */
    int *cell;           /* (slots) the cell of each result */
    double *pol_s, *prm_s;
    uint8_t *timed;
    size_t n, cap;
    const char *path;
    pd_buf key;
} sum_ctx;

static int sum_result(void *ud, json_t *line, size_t lineno, pd_error *err) {
    sum_ctx *x = ud;
    if (pd_eval_line_key(line, &x->key))
        return pd_err_set(err, PD_EFORMAT, "%s:%zu: not a result line (no id, strategy, n or seed)", x->path, lineno);
    size_t old;
    int r = pd_keymap_put(&x->keys, x->key.data, x->n, &old);
    if (r < 0) return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    if (r == 1)
        return pd_err_set(err, PD_EFORMAT, "%s:%zu: a second result for %s (first on line %zu)", x->path, lineno,
                          x->key.data, old + 1);
    const char *why = NULL;
    int ci = pd_eval_tally(x->rep, line, &why);
    if (ci < 0) return pd_err_set(err, PD_EFORMAT, "%s:%zu: %s", x->path, lineno, why);
    size_t c1 = x->cap, c2 = x->cap, c3 = x->cap, c4 = x->cap;
    if (pd_grow((void **)&x->cell, &c1, x->n + 1, sizeof *x->cell) ||
        pd_grow((void **)&x->pol_s, &c2, x->n + 1, sizeof *x->pol_s) ||
        pd_grow((void **)&x->prm_s, &c3, x->n + 1, sizeof *x->prm_s) ||
        pd_grow((void **)&x->timed, &c4, x->n + 1, sizeof *x->timed))
        return pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    x->cap = c1 < c2 ? c1 : c2;
    x->cap = x->cap < c3 ? x->cap : c3;
    x->cap = x->cap < c4 ? x->cap : c4;
    x->cell[x->n] = ci;
    x->timed[x->n] = 0;
    x->n++;
    return 0;
}

static int sum_timing(void *ud, json_t *line, size_t lineno, pd_error *err) {
    sum_ctx *x = ud;
    size_t slot;
    (void)lineno, (void)err;
    if (pd_eval_line_key(line, &x->key) || !pd_keymap_get(&x->keys, x->key.data, &slot)) return 0;
    x->pol_s[slot] = num(line, "policy_s");
    x->prm_s[slot] = num(line, "prm_s");
    x->timed[slot] = 1;
    return 0;
}

/* Read config.json of dir. */
static json_t *load_config(const char *dir, pd_error *err) {
    char *p = pd_eval_join(dir, "config.json");
    if (!p) {
        pd_err_set(err, PD_ENOMEM, "eval: out of memory");
        return NULL;
    }
    json_error_t je;
    json_t *c = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    if (!c) {
        if (!pd_file_exists(p)) pd_err_set(err, PD_ENOTFOUND, "%s: no run here (no config.json)", dir);
        else pd_err_set(err, PD_EFORMAT, "%s:%d: %s", p, je.line, je.text);
    } else if (!json_is_object(c) || json_integer_value(json_object_get(c, "ponder_run")) != 1) {
        pd_err_set(err, PD_EFORMAT, "%s: not a ponder run configuration", p);
        json_decref(c);
        c = NULL;
    }
    free(p);
    return c;
}

/* Tally dir's results and timings into rep (initialised from config). */
static int tally_dir(const char *dir, const json_t *config, pd_eval_report *rep, size_t *torn, pd_error *err) {
    int rc = pd_eval_report_init(rep, config, err);
    if (rc) return rc;
    sum_ctx x = {.rep = rep};
    char *rp = pd_eval_join(dir, "results.jsonl"), *tp = pd_eval_join(dir, "timing.jsonl");
    size_t torn2;
    if (!rp || !tp) rc = pd_err_set(err, PD_ENOMEM, "eval: out of memory");
    if (!rc) {
        x.path = rp;
        rc = pd_eval_read_jsonl(rp, 0, sum_result, &x, torn, err);
    }
    if (!rc) {
        x.path = tp;
        rc = pd_eval_read_jsonl(tp, 0, sum_timing, &x, &torn2, err);
    }
    for (size_t i = 0; !rc && i < x.n; i++)
        if (x.timed[i]) {
            pd_eval_cell *c = &rep->cells[x.cell[i]];
            c->policy_s += x.pol_s[i];
            c->prm_s += x.prm_s[i];
            c->timed++;
        }
    pd_keymap_free(&x.keys);
    free(x.cell), free(x.pol_s), free(x.prm_s), free(x.timed);
    pd_buf_free(&x.key);
    free(rp);
    free(tp);
    if (rc) pd_eval_report_free(rep);
    return rc;
}

int pd_eval_load(const char *dir, pd_eval_report *rep, pd_error *err) {
    json_t *c = load_config(dir, err);
    if (!c) return err ? err->code : PD_EFORMAT;
    size_t torn = 0;
    int rc = tally_dir(dir, c, rep, &torn, err);
    if (!rc) rep->torn_bytes = torn;
    json_decref(c);
    return rc;
}

int pd_eval_summarize(const char *dir, pd_eval_report *rep_out, pd_error *err) {
    json_t *c = load_config(dir, err);
    if (!c) return err ? err->code : PD_EFORMAT;
    pd_eval_report rep;
    size_t torn = 0;
    int rc = tally_dir(dir, c, &rep, &torn, err);
    if (!rc) {
        rep.torn_bytes = torn;
        char *sp = pd_eval_join(dir, "summary.json");
        json_t *s = pd_eval_summary_json(&rep, c, 0);
        rc = !sp ? pd_err_set(err, PD_ENOMEM, "eval: out of memory")
                 : pd_eval_write_json(sp, s, JSON_INDENT(2) | JSON_REAL_PRECISION(6), err);
        json_decref(s);
        free(sp);
        if (rc || !rep_out) pd_eval_report_free(&rep);
        else *rep_out = rep;
    }
    json_decref(c);
    return rc;
}

/* ---- merge ---- */

/* Append every byte of src to the open fd; whole lines only (a torn tail is an error). */
static int append_file(int fd, const char *src, const char *out_name, int must_be_whole, pd_error *err) {
    char *data = NULL;
    size_t len = 0;
    if (!pd_file_exists(src)) return 0;
    int rc = pd_file_read(src, &data, &len, err);
    if (rc) return rc;
    if (len && data[len - 1] != '\n') {
        if (must_be_whole) {
            free(data);
            return pd_err_set(err, PD_EFORMAT, "%s: ends in a torn line: resume that shard first", src);
        }
        while (len && data[len - 1] != '\n') len--; /* timings: a torn last one is dropped */
    }
    size_t off = 0;
    while (off < len && !rc) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) rc = pd_err_set(err, PD_EIO, "%s: write failed: %s", out_name, strerror(errno));
        else off += (size_t)w;
    }
    free(data);
    return rc;
}

int pd_eval_merge(const char *const *dirs, size_t n, const char *out, int overwrite, pd_eval_report *rep_out,
                  pd_error *err) {
    if (n < 1) return pd_err_set(err, PD_EINVAL, "merge: no run directories given");
    json_t **cfg = calloc(n, sizeof *cfg);
    if (!cfg) return pd_err_set(err, PD_ENOMEM, "merge: out of memory");
    int rc = 0;
    json_int_t count = 0;
    size_t *seen = NULL; /* (count) 1 + the index in dirs of each shard, 0: not seen */
    static const char *const skip[] = {"shard", "dataset", "dataset_skipped", "plan", NULL};
    for (size_t i = 0; i < n && !rc; i++) {
        if (!(cfg[i] = load_config(dirs[i], err))) {
            rc = err ? err->code : PD_EFORMAT;
            break;
        }
        json_t *sh = json_object_get(cfg[i], "shard");
        json_int_t idx = json_integer_value(json_object_get(sh, "index")), cnt = json_integer_value(json_object_get(sh, "count"));
        if (i == 0) {
            count = cnt;
            if (count < 1 || count > 1000000 || !(seen = calloc((size_t)count, sizeof *seen))) {
                rc = pd_err_set(err, count < 1 || count > 1000000 ? PD_EFORMAT : PD_ENOMEM,
                                "merge: %s: bad shard count", dirs[i]);
                break;
            }
        } else {
            pd_buf d = {0};
            int nd = pd_eval_config_diff(cfg[0], cfg[i], skip, &d);
            if (nd) {
                rc = pd_err_set(err, PD_EINVAL, "merge: %s and %s are not shards of one run: %s", dirs[0], dirs[i],
                                d.data ? d.data : "");
                pd_buf_free(&d);
                break;
            }
            pd_buf_free(&d);
            if (cnt != count) {
                rc = pd_err_set(err, PD_EINVAL, "merge: %s is shard %lld/%lld but %s is one of %lld", dirs[i],
                                (long long)idx, (long long)cnt, dirs[0], (long long)count);
                break;
            }
        }
        if (idx < 0 || idx >= count) {
            rc = pd_err_set(err, PD_EFORMAT, "merge: %s: bad shard index", dirs[i]);
            break;
        }
        if (seen[idx]) {
            rc = pd_err_set(err, PD_EINVAL, "merge: %s and %s are both shard %lld/%lld (overlapping shards)",
                            dirs[seen[idx] - 1], dirs[i], (long long)idx, (long long)count);
            break;
        }
        seen[idx] = i + 1;
        /* the shard must be complete */
        pd_eval_report r;
        size_t torn = 0;
        rc = tally_dir(dirs[i], cfg[i], &r, &torn, err);
        if (rc) break;
        if (torn || r.n_done != r.n_jobs)
            rc = pd_err_set(err, PD_EINVAL, "merge: %s (shard %lld/%lld) is incomplete: %zu of %zu searches done; "
                            "finish it with `ponder eval --resume %s`", dirs[i], (long long)idx, (long long)count,
                            r.n_done, r.n_jobs, dirs[i]);
        pd_eval_report_free(&r);
    }
    for (json_int_t k = 0; !rc && k < count; k++)
        if (!seen[k])
            rc = pd_err_set(err, PD_EINVAL, "merge: shard %lld/%lld is missing", (long long)k, (long long)count);
    /* the output directory */
    if (!rc) {
        int ne = pd_eval_dir_nonempty(out);
        if (ne < 0) rc = pd_err_set(err, PD_EINVAL, "merge: %s is not a directory", out);
        else if (ne && !overwrite)
            rc = pd_err_set(err, PD_EINVAL, "merge: %s is not empty (pass --overwrite to replace what is there)", out);
        else rc = pd_mkdirs(out, err);
    }
    if (!rc) {
        json_t *c = json_deep_copy(cfg[0]);
        json_t *sh = json_object();
        json_object_set_new(sh, "index", json_integer(0));
        json_object_set_new(sh, "count", json_integer(1));
        json_object_set_new(c, "shard", sh);
        char *cp = pd_eval_join(out, "config.json");
        rc = cp ? pd_eval_write_json(cp, c, JSON_INDENT(2), err) : pd_err_set(err, PD_ENOMEM, "merge: out of memory");
        free(cp);
        json_decref(c);
    }
    static const char *const files[] = {"results.jsonl", "timing.jsonl"};
    for (int f = 0; f < 2 && !rc; f++) {
        char *op = pd_eval_join(out, files[f]);
        int fd = op ? open(op, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        if (fd < 0) rc = pd_err_set(err, PD_EIO, "merge: cannot create %s", op ? op : out);
        /* shards in index order */
        for (json_int_t k = 0; k < count && !rc; k++) {
            char *sp = pd_eval_join(dirs[seen[k] - 1], files[f]);
            rc = sp ? append_file(fd, sp, op, f == 0, err) : pd_err_set(err, PD_ENOMEM, "merge: out of memory");
            free(sp);
        }
        if (fd >= 0 && (fsync(fd) != 0 || close(fd) != 0) && !rc)
            rc = pd_err_set(err, PD_EIO, "merge: %s: write failed", op);
        free(op);
    }
    for (size_t i = 0; i < n; i++) json_decref(cfg[i]);
    free(cfg);
    free(seen);
    if (!rc) rc = pd_eval_summarize(out, rep_out, err);
    return rc;
}

/* ---- a stored configuration as options ---- */

void pd_eval_saved_free(pd_eval_saved *s) {
    pd_backend_opts_free(&s->bo);
    for (size_t i = 0; i < sizeof s->own / sizeof *s->own; i++) free(s->own[i]);
    memset(s, 0, sizeof *s);
}

/* Keep a copy of the string member k of o (NULL when absent or null). */
static const char *own_str(pd_eval_saved *s, const json_t *o, const char *k) {
    const char *v = json_string_value(json_object_get(o, k));
    if (!v) return NULL;
    for (size_t i = 0; i < sizeof s->own / sizeof *s->own; i++)
        if (!s->own[i]) {
            size_t n = strlen(v);
            if (!(s->own[i] = malloc(n + 1))) return NULL;
            memcpy(s->own[i], v, n + 1);
            return s->own[i];
        }
    return NULL;
}

int pd_eval_saved_load(const char *dir, pd_eval_saved *s, pd_error *err) {
    memset(s, 0, sizeof *s);
    json_t *c = load_config(dir, err);
    if (!c) return err ? err->code : PD_EFORMAT;
    pd_eval_opts *o = &s->o;
    pd_eval_opts_default(o);
    pd_backend_opts_default(&s->bo);
    int rc = 0;
    o->policy_spec = own_str(s, c, "policy");
    o->prm_spec = own_str(s, c, "prm");
    o->dataset = own_str(s, c, "dataset");
    json_t *st = json_object_get(c, "strategies"), *ns = json_object_get(c, "n"), *seeds = json_object_get(c, "seeds");
    o->n_strategies = (int)json_array_size(st);
    o->n_ns = (int)json_array_size(ns);
    o->n_seeds = (int)json_array_size(seeds);
    o->plan_path = own_str(s, c, "plan");
    o->dataset_split = own_str(s, c, "dataset_split");
    o->dataset_start = (size_t)json_integer_value(json_object_get(c, "dataset_start"));
    o->dataset_end = (size_t)json_integer_value(json_object_get(c, "dataset_end"));
    if (o->n_strategies < 1 || o->n_strategies > PD_N_STRATEGIES + 1 || o->n_ns < 1 || o->n_ns > PD_EVAL_MAX_N ||
        o->n_seeds < 1 || o->n_seeds > PD_EVAL_MAX_SEEDS || !o->policy_spec || !o->prm_spec || !o->dataset)
        rc = pd_err_set(err, PD_EFORMAT, "%s/config.json: policy, prm, dataset, strategies, n or seeds missing", dir);
    for (int i = 0; !rc && i < o->n_strategies; i++)
        if (pd_strategy_parse(json_is_string(json_array_get(st, (size_t)i)) ? json_string_value(json_array_get(st, (size_t)i)) : "", &o->strategies[i]))
            rc = pd_err_set(err, PD_EFORMAT, "%s/config.json: unknown strategy", dir);
    for (int i = 0; !rc && i < o->n_ns; i++) o->ns[i] = (int32_t)json_integer_value(json_array_get(ns, (size_t)i));
    for (int i = 0; !rc && i < o->n_seeds; i++) o->seeds[i] = (uint64_t)json_integer_value(json_array_get(seeds, (size_t)i));
    if (!rc) o->base.seed = o->seeds[0];
    json_t *se = json_object_get(c, "search");
    if (!rc && se) {
        o->base.beam_width = (int32_t)json_integer_value(json_object_get(se, "beam_width"));
        o->base.num_iterations = (int32_t)json_integer_value(json_object_get(se, "num_iterations"));
        o->base.lookahead = (int32_t)json_integer_value(json_object_get(se, "lookahead"));
        if (pd_agg_parse(sv(se, "agg"), &o->base.agg))
            rc = pd_err_set(err, PD_EFORMAT, "%s/config.json: unknown agg", dir);
        o->base.temperature = (float)num(se, "temperature");
        o->base.top_p = (float)num(se, "top_p");
        o->base.step_max_tokens = (int32_t)json_integer_value(json_object_get(se, "step_max_tokens"));
        /* settings of the later strategies: kept at their defaults when the run predates them */
        if (json_object_get(se, "resample")) o->base.resample = (pd_resample)json_integer_value(json_object_get(se, "resample"));
        if (json_object_get(se, "ess_threshold")) o->base.ess_threshold = (float)num(se, "ess_threshold");
        if (json_object_get(se, "pf_temperature")) o->base.pf_temperature = (float)num(se, "pf_temperature");
        if (json_object_get(se, "rebase_temperature")) o->base.rebase_temperature = (float)num(se, "rebase_temperature");
        if (json_object_get(se, "deepconf_warmup"))
            o->base.deepconf_warmup = (int32_t)json_integer_value(json_object_get(se, "deepconf_warmup"));
        if (json_object_get(se, "deepconf_keep")) o->base.deepconf_keep = (float)num(se, "deepconf_keep");
        if (json_object_get(se, "conf_window")) o->base.conf_window = (int32_t)json_integer_value(json_object_get(se, "conf_window"));
        if (json_object_get(se, "vote_wave")) o->base.vote_wave = (int32_t)json_integer_value(json_object_get(se, "vote_wave"));
    }
    o->limit = (size_t)json_integer_value(json_object_get(c, "limit"));
    o->with_texts = json_is_true(json_object_get(c, "with_texts"));
    json_t *sh = json_object_get(c, "shard");
    o->shard_index = (int)json_integer_value(json_object_get(sh, "index"));
    o->shard_count = (int)json_integer_value(json_object_get(sh, "count"));
    json_t *sim = json_object_get(c, "sim");
    if (sim) {
        pd_sim_params *p = &s->bo.sim;
        s->has_sim = 1;
        p->policy_acc = num(sim, "policy_acc");
        p->acc_decay = num(sim, "acc_decay");
        p->default_level = (int)num(sim, "default_level");
        p->base_steps = (int)num(sim, "base_steps");
        p->distractor = num(sim, "distractor");
        p->wrong_spread = (int)num(sim, "wrong_spread");
        p->prm_sep = num(sim, "prm_sep");
        p->prm_noise = num(sim, "prm_noise");
        p->step_tokens = (int)num(sim, "step_tokens");
        p->policy_params = num(sim, "policy_params");
        p->prm_params = num(sim, "prm_params");
    }
    json_t *bo = json_object_get(c, "backend_opts");
    if (bo) {
        s->bo.system_prompt = own_str(s, bo, "system_prompt");
        const char *d = json_string_value(json_object_get(bo, "step_delimiter"));
        if (d) snprintf(s->bo.step_delimiter, sizeof s->bo.step_delimiter, "%s", d);
        s->bo.prm_kind = (int)json_integer_value(json_object_get(bo, "prm_kind"));
        s->bo.prm_step_tag = own_str(s, bo, "prm_step_tag");
        s->bo.prm_good_token = own_str(s, bo, "prm_good_token");
        s->bo.prm_bad_token = own_str(s, bo, "prm_bad_token");
        s->bo.prm_system_prompt = own_str(s, bo, "prm_system_prompt");
        /* what the run was made with, whatever PONDER_PRECISION says now */
        const char *pp = json_string_value(json_object_get(bo, "precision"));
        const char *vp = json_string_value(json_object_get(bo, "prm_precision"));
        s->bo.precision = pp && !strcmp(pp, "bf16") ? PD_PRECISION_BF16 : PD_PRECISION_EXACT;
        s->bo.prm_precision = vp && !strcmp(vp, "bf16") ? PD_PRECISION_BF16 : PD_PRECISION_EXACT;
    }
    json_decref(c);
    if (rc) pd_eval_saved_free(s);
    return rc;
}
