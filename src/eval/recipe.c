/* recipe.c — YAML recipes (`--config FILE` on eval and solve), read by libyaml.
 *
 * Migration from search-and-learn: its recipes (recipes/ (YAML files)) are flat YAML mappings of
 * its Config fields. Each known key becomes the command-line option it stands for, with its
 * value checked here, so that a bad value is reported where it is written (FILE:LINE: KEY:
 * why), not later as an anonymous option. The commands put the recipe's options before their
 * own arguments, so a flag on the command line overrides the file.
 *
 * Keys (search-and-learn's, then ponder's own names; '-' and '_' are the same):
 *   approach / strategy        strategy list       n                  budgets (a list too)
 *   beam_width                 beam-width          num_iterations     iterations
 *   lookahead                  lookahead           temperature, top_p
 *   max_tokens                 max-step-tokens     agg_strategy / agg last|min|prod|mean
 *   seed, seeds                system_prompt       model_path / policy, prm_path / prm
 *   dataset_name / dataset     dataset_split       dataset_start, dataset_end, limit
 *   output_dir / out           plan
 *   filter_duplicates          false only (ponder keeps duplicate beams, as the reference's
 *                              default); true is refused
 *   sort_completed             accepted, no effect (beam_search's result is best first)
 * A null value (`key:` or `~`) leaves the option at its default. Anything else — an unknown
 * key, a repeated key, a nested mapping, a list where a scalar belongs — is an error. */
#include "ponder/recipe.h"
#include "ponder/search.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef enum { K_STRATS, K_INTS, K_INT, K_NUM, K_STR, K_AGG, K_FALSE, K_IGNORED } kind;

typedef struct key_def {
    const char *key;   /* canonical: '_' for '-' */
    const char *opt;   /* command-line option ("" for none) */
    kind k;
    double lo, hi;     /* numbers: the range */
    int eval_only;
} key_def;

#define BIG 9007199254740992.0 /* 2^53 */

static const key_def KEYS[] = {
    {"approach", "strategy", K_STRATS, 0, 0, 0},
    {"strategy", "strategy", K_STRATS, 0, 0, 0},
    {"n", "n", K_INTS, 1, 1 << 20, 0},
    {"seeds", "seeds", K_INTS, 0, BIG, 1},
    {"seed", "seed", K_INT, 0, BIG, 0},
    {"beam_width", "beam-width", K_INT, 1, 1 << 20, 0},
    {"num_iterations", "iterations", K_INT, 1, 100000, 0},
    {"iterations", "iterations", K_INT, 1, 100000, 0},
    {"lookahead", "lookahead", K_INT, 0, 1000, 0},
    {"temperature", "temperature", K_NUM, 0, 100, 0},
    {"top_p", "top-p", K_NUM, 1e-9, 1, 0},
    {"max_tokens", "max-step-tokens", K_INT, 1, 1 << 24, 0},
    {"max_step_tokens", "max-step-tokens", K_INT, 1, 1 << 24, 0},
    {"agg_strategy", "agg", K_AGG, 0, 0, 0},
    {"agg", "agg", K_AGG, 0, 0, 0},
    {"system_prompt", "system-prompt", K_STR, 0, 0, 0},
    {"model_path", "policy", K_STR, 0, 0, 0},
    {"policy", "policy", K_STR, 0, 0, 0},
    {"prm_path", "prm", K_STR, 0, 0, 0},
    {"prm", "prm", K_STR, 0, 0, 0},
    {"dataset_name", "dataset", K_STR, 0, 0, 1},
    {"dataset", "dataset", K_STR, 0, 0, 1},
    {"dataset_split", "dataset-split", K_STR, 0, 0, 1},
    {"dataset_start", "dataset-start", K_INT, 0, BIG, 1},
    {"dataset_end", "dataset-end", K_INT, 1, BIG, 1},
    {"limit", "limit", K_INT, 1, BIG, 1},
    {"output_dir", "out", K_STR, 0, 0, 1},
    {"out", "out", K_STR, 0, 0, 1},
    {"plan", "plan", K_STR, 0, 0, 0},
    {"filter_duplicates", "", K_FALSE, 0, 0, 0},
    {"sort_completed", "", K_IGNORED, 0, 0, 0},
};
#define N_KEYS (sizeof KEYS / sizeof *KEYS)

const char *pd_recipe_help(void) {
    return "  approach / strategy: --strategy   n: --n   seeds: --seeds   seed: --seed\n"
           "  beam_width: --beam-width   num_iterations: --iterations   lookahead: --lookahead\n"
           "  temperature, top_p: --temperature, --top-p   max_tokens: --max-step-tokens\n"
           "  agg_strategy: --agg   system_prompt: --system-prompt   model_path: --policy   prm_path: --prm\n"
           "  dataset_name: --dataset   dataset_split, dataset_start, dataset_end: --dataset-split/-start/-end\n"
           "  limit: --limit   output_dir: --out   plan: --plan\n"
           "  filter_duplicates: false only   sort_completed: accepted (beam search results are best first)\n";
}

void pd_recipe_free(pd_recipe *r) {
    for (size_t i = 0; i < r->n; i++) free(r->opts[i].value);
    free(r->opts);
    free(r->path);
    memset(r, 0, sizeof *r);
}

static int is_null(const yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE) return 0;
    if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)v->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* YAML 1.1 booleans: 1 true, 0 false, -1 neither. */
static int yaml_bool(const char *s) {
    static const char *t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (!strcmp(s, t[i])) return 1;
        if (!strcmp(s, f[i])) return 0;
    }
    return -1;
}

/* Check one scalar of key d; append it to b (a comma list). Returns NULL or why not. */
static const char *scalar(const key_def *d, const char *s, size_t len, pd_buf *b, char *why, size_t wn) {
    if (strlen(s) != len) return "holds a NUL byte";
    char *end;
    switch (d->k) {
    case K_STRATS: {
        pd_strategy st;
        if (pd_strategy_parse(s, &st)) {
            snprintf(why, wn, "'%.60s' is not a strategy (best_of_n, beam_search, dvts, particle_filter, rebase, deepconf, auto)", s);
            return why;
        }
        break;
    }
    case K_INT:
    case K_INTS: {
        errno = 0;
        double v = (double)strtoll(s, &end, 10);
        if (!*s || *end || errno || v < d->lo || v > d->hi) {
            snprintf(why, wn, "'%.60s' is not an integer in %.0f..%.0f", s, d->lo, d->hi);
            return why;
        }
        break;
    }
    case K_NUM: {
        errno = 0;
        double v = strtod(s, &end);
        if (!*s || *end || errno || !(v >= d->lo && v <= d->hi)) {
            snprintf(why, wn, "'%.60s' is not a number in [%g, %g]", s, d->lo, d->hi);
            return why;
        }
        break;
    }
    case K_AGG: {
        pd_agg a;
        if (pd_agg_parse(s, &a)) {
            snprintf(why, wn, "'%.60s' is not last, min, prod or mean", s);
            return why;
        }
        break;
    }
    case K_FALSE:
    case K_IGNORED: {
        int v = yaml_bool(s);
        if (v < 0) {
            snprintf(why, wn, "'%.60s' is not true or false", s);
            return why;
        }
        if (d->k == K_FALSE && v)
            return "true is not supported (ponder keeps duplicate beams, as search-and-learn does by default); "
                   "remove the key or set it to false";
        return NULL; /* no option */
    }
    case K_STR:
        break;
    }
    if ((b->len && pd_buf_putc(b, ',')) || pd_buf_puts(b, s)) return "out of memory";
    return NULL;
}

int pd_recipe_parse(const char *path, const char *data, size_t len, pd_recipe *r, pd_error *err) {
    memset(r, 0, sizeof *r);
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: not YAML: %s%s%s", path, p.problem_mark.line + 1,
                            p.problem ? p.problem : "syntax error", p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return rc;
    }
    int rc = 0;
    pd_buf b = {0};
    size_t cap = 0;
    char why[256];
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!(r->path = strdup(path))) {
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (!root) {
        rc = pd_err_set(err, PD_EFORMAT, "%s: empty: a recipe is a mapping of keys to values", path);
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: a recipe is a mapping of keys to values", path, root->start_mark.line + 1);
        goto out;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pr->key), *vn = yaml_document_get_node(&doc, pr->value);
        size_t line = kn ? kn->start_mark.line + 1 : 0;
        if (!kn || !vn || kn->type != YAML_SCALAR_NODE) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: a key must be a plain name", path, line);
            goto out;
        }
        const char *key = (const char *)kn->data.scalar.value;
        char canon[48];
        size_t kl = kn->data.scalar.length;
        if (kl >= sizeof canon || strlen(key) != kl) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: unknown key '%.40s'", path, line, key);
            goto out;
        }
        for (size_t i = 0; i <= kl; i++) canon[i] = key[i] == '-' ? '_' : key[i];
        const key_def *d = NULL;
        for (size_t i = 0; i < N_KEYS && !d; i++)
            if (!strcmp(KEYS[i].key, canon)) d = &KEYS[i];
        if (!d) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: unknown key '%s' (known: approach, n, beam_width, num_iterations, "
                            "lookahead, temperature, top_p, max_tokens, agg_strategy, seed, seeds, system_prompt, model_path, "
                            "prm_path, dataset_name, dataset_split, dataset_start, dataset_end, limit, output_dir, plan, "
                            "filter_duplicates, sort_completed, and ponder's option names)", path, line, key);
            goto out;
        }
        /* a key given twice (under any of its names) */
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++) {
            yaml_node_t *k2 = yaml_document_get_node(&doc, q->key);
            char c2[48];
            if (!k2 || k2->type != YAML_SCALAR_NODE || k2->data.scalar.length >= sizeof c2) continue;
            for (size_t i = 0; i <= k2->data.scalar.length; i++) {
                char ch = (char)k2->data.scalar.value[i];
                c2[i] = ch == '-' ? '_' : ch;
            }
            const key_def *d2 = NULL;
            for (size_t i = 0; i < N_KEYS && !d2; i++)
                if (!strcmp(KEYS[i].key, c2)) d2 = &KEYS[i];
            if (d2 == d || (d2 && d->opt[0] && !strcmp(d2->opt, d->opt))) {
                rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: %s: given twice (first as '%s' on line %zu)", path, line, key,
                                (const char *)k2->data.scalar.value, k2->start_mark.line + 1);
                goto out;
            }
        }
        if (is_null(vn)) continue;
        b.len = 0;
        if (b.data) b.data[0] = 0;
        const char *bad = NULL;
        if (vn->type == YAML_SCALAR_NODE) {
            bad = scalar(d, (const char *)vn->data.scalar.value, vn->data.scalar.length, &b, why, sizeof why);
        } else if (vn->type == YAML_SEQUENCE_NODE && (d->k == K_STRATS || d->k == K_INTS)) {
            yaml_node_item_t *it = vn->data.sequence.items.start;
            if (it == vn->data.sequence.items.top) bad = "an empty list";
            for (; !bad && it < vn->data.sequence.items.top; it++) {
                yaml_node_t *e = yaml_document_get_node(&doc, *it);
                if (!e || e->type != YAML_SCALAR_NODE) bad = "a list of plain values is expected";
                else bad = scalar(d, (const char *)e->data.scalar.value, e->data.scalar.length, &b, why, sizeof why);
            }
        } else {
            bad = d->k == K_STRATS || d->k == K_INTS ? "a value or a list of values is expected" : "a single value is expected";
        }
        if (bad) {
            rc = pd_err_set(err, PD_EFORMAT, "%s:%zu: %s: %s", path, vn->start_mark.line + 1, key, bad);
            goto out;
        }
        if (!d->opt[0]) continue;
        if (pd_grow((void **)&r->opts, &cap, r->n + 1, sizeof *r->opts)) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        pd_recipe_opt *o = &r->opts[r->n];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", d->opt);
        snprintf(o->key, sizeof o->key, "%s", key);
        o->line = (int)line;
        o->eval_only = d->eval_only;
        if (!(o->value = strdup(b.data ? b.data : ""))) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        r->n++;
    }
out:
    pd_buf_free(&b);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    if (rc) pd_recipe_free(r);
    return rc;
}

int pd_recipe_load(const char *path, pd_recipe *r, pd_error *err) {
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f) return pd_err_set(err, PD_EIO, "%s: cannot read: %s", path, strerror(errno));
    pd_buf b = {0};
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > (1u << 20)) {
            rc = pd_err_set(err, PD_EFORMAT, "%s: larger than 1 MiB: not a recipe", path);
            break;
        }
        if (pd_buf_append(&b, chunk, n)) {
            rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
            break;
        }
    }
    if (!rc && ferror(f)) rc = pd_err_set(err, PD_EIO, "%s: read failed", path);
    fclose(f);
    if (!rc) rc = pd_recipe_parse(path, b.data ? b.data : "", b.len, r, err);
    pd_buf_free(&b);
    return rc;
}
