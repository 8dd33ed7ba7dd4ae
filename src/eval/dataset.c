/* dataset.c — problems with reference answers, read from JSONL (or a JSON array).
 *
 * One JSON object per line; or, when the first thing in the file is '[', one JSON array of
 * such objects (the other layout Hugging Face datasets use for .json files; a broken array
 * fails as a whole, with its line and column, a bad record in it is skipped like a bad line,
 * "FILE: record N: reason"). The field names of the common math benchmarks are accepted:
 *   MATH-500: problem, answer, solution, level (int or "Level N"), unique_id
 *   AIME 2024: id (int or string), problem (or question), answer (string or number)
 *   GSM8K:    question, answer = "<worked solution>\n#### <final value>"
 * A line that is not a JSON object, or lacks a question or an answer, is recorded as
 * "FILE:LINE: reason" in ds->skipped_msgs and skipped: one broken line never loses a run.
 * Blank lines are ignored silently; a UTF-8 byte-order mark before the first line is dropped.
 * Ids must be unique (a run's results are keyed by them): a line whose id was already seen is
 * reported ("duplicate id 'x', first on line N") and skipped. MATH-500's "subject" is kept
 * (per-subject accuracy). */
#include "ponder/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Longest line accepted; a longer one is reported and skipped. */
#define PD_DATASET_MAX_LINE (16u << 20)

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* Copy s with leading and trailing white space removed. */
static char *dup_trimmed(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

int pd_dataset_add(pd_dataset *ds, const char *id, const char *problem, const char *answer,
                   const char *solution, int level) {
    if (pd_grow((void **)&ds->items, &ds->cap, ds->n + 1, sizeof *ds->items)) return PD_ENOMEM;
    pd_problem *p = &ds->items[ds->n];
    p->id = dup_str(id);
    p->problem = dup_str(problem);
    p->answer = dup_str(answer);
    p->solution = dup_str(solution);
    p->level = level;
    if (!p->id || !p->problem || !p->answer || (solution && !p->solution)) {
        free(p->id), free(p->problem), free(p->answer), free(p->solution);
        return PD_ENOMEM;
    }
    ds->n++;
    return 0;
}

/* Remove the last problem (a duplicate, or one whose copy failed). */
static void pd_dataset_drop_last(pd_dataset *ds) {
    pd_problem *p = &ds->items[--ds->n];
    free(p->id), free(p->problem), free(p->answer), free(p->solution);
    memset(p, 0, sizeof *p);
    if (ds->subjects && ds->n < ds->subjects_cap) {
        free(ds->subjects[ds->n]);
        ds->subjects[ds->n] = NULL;
    }
}

int pd_dataset_set_subject(pd_dataset *ds, size_t i, const char *subject) {
    if (i >= ds->n) return PD_EINVAL;
    size_t old = ds->subjects_cap;
    if (pd_grow((void **)&ds->subjects, &ds->subjects_cap, ds->n, sizeof *ds->subjects)) return PD_ENOMEM;
    for (size_t k = old; k < ds->subjects_cap; k++) ds->subjects[k] = NULL;
    char *c = dup_str(subject);
    if (subject && !c) return PD_ENOMEM;
    free(ds->subjects[i]);
    ds->subjects[i] = c;
    return 0;
}

/* ---- ids seen so far: an open-addressing set of (id, line) for duplicate reports ---- */
typedef struct id_set {
    struct { const char *id; size_t line; } *slot; /* id points into ds->items (not owned) */
    size_t cap, n;
} id_set;

static int id_set_grow(id_set *s, size_t need);

/* Find id; returns its slot (empty when absent). */
static size_t id_set_find(const id_set *s, const char *id) {
    size_t i = (size_t)pd_hash_str(0x9e3779b97f4a7c15ull, id) & (s->cap - 1);
    while (s->slot[i].id && strcmp(s->slot[i].id, id)) i = (i + 1) & (s->cap - 1);
    return i;
}

/* Add id (seen on `line`, 0 for a problem added before this read); when it was already
 * there, returns 1 and its first line in *first. -1 when out of memory. */
static int id_set_add(id_set *s, const char *id, size_t line, size_t *first) {
    if ((s->n + 1) * 2 > s->cap && id_set_grow(s, (s->n + 1) * 2)) return -1;
    size_t i = id_set_find(s, id);
    if (s->slot[i].id) {
        *first = s->slot[i].line;
        return 1;
    }
    s->slot[i].id = id;
    s->slot[i].line = line;
    s->n++;
    return 0;
}

static int id_set_grow(id_set *s, size_t need) {
    size_t cap = 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 4 / sizeof *s->slot) return -1;
        cap *= 2;
    }
    id_set t = {calloc(cap, sizeof *s->slot), cap, 0};
    if (!t.slot) return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i].id) {
            size_t j = id_set_find(&t, s->slot[i].id);
            t.slot[j] = s->slot[i];
            t.n++;
        }
    free(s->slot);
    *s = t;
    return 0;
}

/* Record a skipped line (record: the record of a JSON array). */
static int skip_line(pd_dataset *ds, const char *path, size_t line, int record, const char *why) {
    if (pd_grow((void **)&ds->skipped_msgs, &ds->skipped_cap, ds->n_skipped + 1, sizeof(char *)))
        return PD_ENOMEM;
    pd_buf b = {0};
    if (pd_buf_printf(&b, record ? "%s: record %zu: %s" : "%s:%zu: %s", path, line, why)) return PD_ENOMEM;
    ds->skipped_msgs[ds->n_skipped++] = pd_buf_steal(&b);
    return 0;
}

/* The level: an integer 0..99, or a string like "Level 3". -1 when malformed. */
static int read_level(json_t *v) {
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return x >= 0 && x <= 99 ? (int)x : -1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s && !isdigit((unsigned char)*s)) s++;
        if (!*s) return strcmp(json_string_value(v), "Level ?") == 0 ? 0 : -1;
        long x = strtol(s, NULL, 10);
        return x >= 0 && x <= 99 ? (int)x : -1;
    }
    return -1;
}

/* Add one record (a parsed JSON value, line or record `lineno`) to ds. Returns 0, or writes
 * a reason into why and returns 1. */
static int parse_record(pd_dataset *ds, json_t *o, size_t lineno, int record, char *why, size_t whysz) {
    int rc = 1;
    char *answer = NULL, *solution = NULL, numbuf[64], idbuf[64];
    if (!json_is_object(o)) {
        snprintf(why, whysz, "not a JSON object");
        goto done;
    }
    json_t *q = json_object_get(o, "problem");
    if (!json_is_string(q)) q = json_object_get(o, "question");
    if (!json_is_string(q) || !*json_string_value(q)) {
        snprintf(why, whysz, "no \"problem\" or \"question\" string");
        goto done;
    }
    json_t *a = json_object_get(o, "answer");
    const char *sol = json_is_string(json_object_get(o, "solution")) ? json_string_value(json_object_get(o, "solution")) : NULL;
    if (json_is_string(a)) {
        const char *s = json_string_value(a), *hash = strstr(s, "####");
        if (hash) { /* GSM8K: the worked solution, then "#### value" */
            answer = dup_trimmed(hash + 4, strlen(hash + 4));
            if (!sol) sol = solution = dup_trimmed(s, (size_t)(hash - s));
        } else {
            answer = dup_trimmed(s, strlen(s));
        }
    } else if (json_is_integer(a)) {
        snprintf(numbuf, sizeof numbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(a));
        answer = dup_str(numbuf);
    } else if (json_is_real(a)) {
        snprintf(numbuf, sizeof numbuf, "%.17g", json_real_value(a));
        answer = dup_str(numbuf);
    }
    if (!answer || !*answer) {
        snprintf(why, whysz, "no \"answer\" (string or number)");
        goto done;
    }
    int level = read_level(json_object_get(o, "level"));
    if (level < 0) {
        snprintf(why, whysz, "\"level\" is not an integer 0-99 or \"Level N\"");
        goto done;
    }
    json_t *id = json_object_get(o, "unique_id");
    if (!json_is_string(id)) id = json_object_get(o, "id");
    const char *ids;
    if (json_is_string(id)) ids = json_string_value(id);
    else if (json_is_integer(id)) {
        snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        ids = idbuf;
    } else {
        snprintf(idbuf, sizeof idbuf, "%s-%zu", record ? "record" : "line", lineno);
        ids = idbuf;
    }
    if (pd_dataset_add(ds, ids, json_string_value(q), answer, sol, level)) {
        snprintf(why, whysz, "out of memory");
        goto done;
    }
    json_t *subj = json_object_get(o, "subject");
    if (json_is_string(subj) && *json_string_value(subj) &&
        pd_dataset_set_subject(ds, ds->n - 1, json_string_value(subj))) {
        pd_dataset_drop_last(ds);
        snprintf(why, whysz, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(answer);
    free(solution);
    return rc;
}

/* Parse one JSON line into ds. Returns 0, or writes a reason into why and returns 1. */
static int parse_line(pd_dataset *ds, const char *text, size_t len, size_t lineno, char *why, size_t whysz) {
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        snprintf(why, whysz, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return 1;
    }
    int rc = parse_record(ds, o, lineno, 0, why, whysz);
    json_decref(o);
    return rc;
}

/* After a record was parsed (or not: bad), check its id against ids; a bad or duplicate
 * record is recorded as skipped. Returns 0 or PD_ENOMEM. */
static int settle_record(pd_dataset *ds, id_set *ids, const char *path, size_t lineno, int record, size_t before,
                         int bad, char *why, size_t whysz) {
    size_t first = 0;
    int dup = bad || ds->n == before ? 0 : id_set_add(ids, ds->items[ds->n - 1].id, lineno, &first);
    if (dup < 0) return PD_ENOMEM;
    if (dup) {
        /* the id in the message is cut to keep it one readable line */
        if (first) snprintf(why, whysz, "duplicate id '%.120s' (first on %s %zu)", ds->items[ds->n - 1].id,
                            record ? "record" : "line", first);
        else snprintf(why, whysz, "duplicate id '%.120s' (already in the dataset)", ds->items[ds->n - 1].id);
        pd_dataset_drop_last(ds);
        bad = 1;
    }
    return bad && skip_line(ds, path, lineno, record, why) ? PD_ENOMEM : 0;
}

/* The JSON-array layout: `head` (the first line, from its '[') and the rest of f. */
static int read_array(FILE *f, const char *path, const char *head, size_t head_len, pd_dataset *ds, id_set *ids,
                      pd_error *err) {
    pd_buf b = {0};
    char chunk[1 << 16];
    size_t n;
    int rc = pd_buf_append(&b, head, head_len) ? PD_ENOMEM : 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = pd_buf_append(&b, chunk, n) ? PD_ENOMEM : 0;
    if (rc) {
        pd_buf_free(&b);
        return pd_err_set(err, PD_ENOMEM, "dataset %s: out of memory", path);
    }
    if (ferror(f)) {
        pd_buf_free(&b);
        return pd_err_set(err, PD_EIO, "dataset %s: read error", path);
    }
    json_error_t jerr;
    json_t *a = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    pd_buf_free(&b);
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return pd_err_set(err, PD_EFORMAT, "dataset %s: a JSON array that does not parse: line %d column %d: %s", path,
                          jerr.line, jerr.column, jerr.text);
    }
    char why[300];
    for (size_t i = 0; i < json_array_size(a) && !rc; i++) {
        size_t before = ds->n;
        int bad = parse_record(ds, json_array_get(a, i), i + 1, 1, why, sizeof why);
        if (settle_record(ds, ids, path, i + 1, 1, before, bad, why, sizeof why))
            rc = pd_err_set(err, PD_ENOMEM, "dataset %s: out of memory", path);
    }
    json_decref(a);
    return rc;
}

int pd_dataset_load(const char *path, pd_dataset *ds, pd_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return pd_err_set(err, errno == ENOENT ? PD_ENOTFOUND : PD_EIO, "dataset %s: %s", path, strerror(errno));
    int rc = pd_dataset_read(f, path, ds, err);
    fclose(f);
    return rc;
}

int pd_dataset_read(FILE *f, const char *path, pd_dataset *ds, pd_error *err) {
    char *line = NULL, why[300];
    size_t cap = 0, lineno = 0;
    ssize_t len;
    int rc = 0, seen = 0; /* seen: a non-blank line was read */
    id_set ids = {0};
    for (size_t k = 0; k < ds->n; k++) {
        size_t first;
        if (id_set_add(&ids, ds->items[k].id, 0, &first) < 0) {
            free(ids.slot);
            return pd_err_set(err, PD_ENOMEM, "dataset %s: out of memory", path);
        }
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)len;
        while (n && isspace((unsigned char)line[n - 1])) n--;
        size_t i = 0;
        if (lineno == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) i = 3; /* byte-order mark */
        while (i < n && isspace((unsigned char)line[i])) i++;
        if (i == n) continue;
        if (!seen && line[i] == '[') { /* a JSON array, not JSON lines */
            rc = read_array(f, path, line + i, (size_t)len - i, ds, &ids, err);
            break;
        }
        seen = 1;
        int bad;
        size_t before = ds->n;
        if (n > PD_DATASET_MAX_LINE) {
            snprintf(why, sizeof why, "line longer than %u bytes", PD_DATASET_MAX_LINE);
            bad = 1;
        } else {
            bad = parse_line(ds, line + i, n - i, lineno, why, sizeof why);
        }
        if (settle_record(ds, &ids, path, lineno, 0, before, bad, why, sizeof why)) {
            rc = pd_err_set(err, PD_ENOMEM, "dataset %s: out of memory", path);
            break;
        }
    }
    if (!rc && ferror(f)) rc = pd_err_set(err, PD_EIO, "dataset %s: read error after line %zu", path, lineno);
    free(ids.slot);
    free(line);
    return rc;
}

void pd_dataset_free(pd_dataset *ds) {
    for (size_t i = 0; i < ds->n; i++) {
        pd_problem *p = &ds->items[i];
        free(p->id), free(p->problem), free(p->answer), free(p->solution);
    }
    for (size_t i = 0; i < ds->subjects_cap && ds->subjects; i++) free(ds->subjects[i]);
    free(ds->subjects);
    for (size_t i = 0; i < ds->n_skipped; i++) free(ds->skipped_msgs[i]);
    free(ds->items);
    free(ds->skipped_msgs);
    memset(ds, 0, sizeof *ds);
}

int pd_dataset_write_jsonl(const pd_dataset *ds, FILE *out, pd_error *err) {
    for (size_t i = 0; i < ds->n; i++) {
        const pd_problem *p = &ds->items[i];
        json_t *o = json_object();
        json_object_set_new(o, "problem", json_string(p->problem));
        if (p->solution) json_object_set_new(o, "solution", json_string(p->solution));
        json_object_set_new(o, "answer", json_string(p->answer));
        json_object_set_new(o, "level", json_integer(p->level));
        if (pd_dataset_subject(ds, i)) json_object_set_new(o, "subject", json_string(pd_dataset_subject(ds, i)));
        json_object_set_new(o, "unique_id", json_string(p->id));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s) return pd_err_set(err, PD_EFORMAT, "problem %s: not valid UTF-8 or out of memory", p->id);
        int bad = fputs(s, out) < 0 || fputc('\n', out) < 0;
        free(s);
        if (bad) return pd_err_set(err, PD_EIO, "write failed");
    }
    return 0;
}

/* Keep problems [start, end) (end 0 or past the last: to the end), as Python's
 * dataset.select(range(start, end)) in search-and-learn. */
int pd_dataset_slice(pd_dataset *ds, size_t start, size_t end, pd_error *err) {
    if (!end || end > ds->n) end = ds->n;
    if (start >= end)
        return pd_err_set(err, PD_EINVAL, "dataset: the range %zu..%zu holds no problem (the dataset has %zu)", start,
                          end, ds->n);
    for (size_t i = 0; i < ds->n; i++) {
        if (i >= start && i < end) continue;
        pd_problem *p = &ds->items[i];
        free(p->id), free(p->problem), free(p->answer), free(p->solution);
        if (ds->subjects && i < ds->subjects_cap) {
            free(ds->subjects[i]);
            ds->subjects[i] = NULL;
        }
    }
    memmove(ds->items, ds->items + start, (end - start) * sizeof *ds->items);
    if (ds->subjects && start < ds->subjects_cap) {
        size_t m = (ds->subjects_cap < end ? ds->subjects_cap : end) - start;
        memmove(ds->subjects, ds->subjects + start, m * sizeof *ds->subjects);
        for (size_t i = m; i < ds->subjects_cap; i++) ds->subjects[i] = NULL;
    } else if (ds->subjects) {
        for (size_t i = 0; i < ds->subjects_cap; i++) ds->subjects[i] = NULL;
    }
    ds->n = end - start;
    return 0;
}
