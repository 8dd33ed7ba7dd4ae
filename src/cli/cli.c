/* cli.c — helpers shared by the commands: error reporting and number parsing. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ponder %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_err(const char *cmd, const pd_error *err) {
    return cli_fail(cmd, "%s", err->msg[0] ? err->msg : pd_code_name(err->code));
}

int cli_parse_long(const char *s, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int cli_parse_int_list(const char *s, int *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v <= 0 || v > 1 << 24 || n >= max) return -1;
        out[n++] = (int)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n ? n : -1;
}

int cli_parse_ids(const char *s, int32_t **out, size_t *n_out, const char **bad) {
    size_t n = 0, cap = 0;
    int32_t *ids = NULL;
    const char *p = s;
    *bad = NULL;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) *bad = p;
        if (*bad || pd_grow((void **)&ids, &cap, n + 1, sizeof *ids)) {
            free(ids);
            return -1;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

int cli_opt_value(const char *cmd, int argc, char **argv, int *i, char *name, size_t name_size,
                  const char **val) {
    const char *a = argv[*i];
    if (strncmp(a, "--", 2) != 0) return cli_fail(cmd, "unexpected argument '%s' (see --help)", a);
    const char *eq = strchr(a, '=');
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (nl >= name_size) return cli_fail(cmd, "unknown option '%s' (see --help)", a);
    memcpy(name, a + 2, nl);
    name[nl] = 0;
    if (eq) *val = eq + 1;
    else if (*i + 1 < argc) *val = argv[++*i];
    else return cli_fail(cmd, "--%s needs a value", name);
    return 0;
}

const char *cli_engine_flags_help(int col) {
    static char buf[512];
    snprintf(buf, sizeof buf,
             "  %-*skernel set: auto (default), portable, avx2, avx512, avx512bf16\n"
             "  %-*sexact (default) or bf16: bf16 weights times activations rounded to bf16,\n"
             "  %-*sas llama.cpp computes (faster where the CPU has a fast bf16 dot product)\n",
             col - 2, "--kernels K", col - 2, "--precision P", col - 2, "");
    return buf;
}

int cli_engine_flag(const char *cmd, const char *a, const char *v) {
    if (!strcmp(a, "--kernels")) {
        pd_kernels k;
        if (!v || pd_kernels_parse(v, &k))
            return cli_fail(cmd, "bad --kernels '%s' (auto, portable, avx2, avx512 or avx512bf16)", v ? v : "");
        return setenv("PONDER_KERNELS", v, 1) ? cli_fail(cmd, "out of memory") : 0;
    }
    if (!strcmp(a, "--precision")) {
        pd_precision p;
        if (!v || pd_precision_parse(v, &p)) return cli_fail(cmd, "bad --precision '%s' (exact or bf16)", v ? v : "");
        return setenv("PONDER_PRECISION", v, 1) ? cli_fail(cmd, "out of memory") : 0;
    }
    return -1;
}

int cli_set_search_opt(const char *cmd, const char *name, const char *val, pd_search_cfg *cfg,
                       pd_backend_opts *bo) {
    pd_error err = {0};
    int rc = bo ? pd_backend_opts_set(bo, name, val, &err) : PD_ENOTFOUND;
    if (rc == PD_ENOTFOUND) rc = pd_search_cfg_set(cfg, name, val, &err);
    if (rc == PD_ENOTFOUND) return cli_fail(cmd, "unknown option '--%s' (see --help)", name);
    return rc ? cli_fail_err(cmd, &err) : 0;
}

int cli_jsonl_next(cli_jsonl *r, FILE *f, json_t **j, char *msg, size_t msg_size) {
    *j = NULL;
    msg[0] = 0;
    ssize_t len = getline(&r->line, &r->cap, f);
    if (len < 0) return 0;
    r->lineno++;
    while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r')) r->line[--len] = 0;
    json_error_t je;
    if (len == 0) snprintf(msg, msg_size, "line %ld: empty", r->lineno);
    else if (!(*j = json_loadb(r->line, (size_t)len, JSON_REJECT_DUPLICATES, &je)))
        snprintf(msg, msg_size, "line %ld: not JSON: %s", r->lineno, je.text);
    return 1;
}

void cli_jsonl_free(cli_jsonl *r) {
    free(r->line);
    memset(r, 0, sizeof *r);
}
