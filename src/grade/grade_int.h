/* grade_int.h — internals shared by the grader's files (src/grade/).
 *
 * The grader is a small pipeline, one file per stage:
 *
 *   extract.c   model text -> candidate answer strings (boxed, "final answer is", $..$, numbers)
 *   normalize.c candidate string -> cleaned LaTeX (units, \text{and}, percent words, \left, ...)
 *   parse.c     cleaned LaTeX -> expression tree (gnode), bounded in size and depth
 *   eval.c      tree -> exact rational value, or complex value at a point, or matrix value
 *   compare.c   two trees -> equal or not, by type, with Math-Verify's gold-decides rules
 *   key.c       tree -> canonical key string for voting
 *   grade.c     the public API (include/ponder/grade.h) gluing the stages together
 *
 * Every stage allocates from one arena (garena) owned by the caller of the public function,
 * so nothing is freed piecemeal and a failed allocation just makes the stage fail. The arena
 * has a hard byte budget: no input can make the grader use unbounded memory. */
#ifndef PONDER_GRADE_INT_H
#define PONDER_GRADE_INT_H

#include "ponder/grade.h"

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits: every input finishes in bounded time and memory ---- */
#define G_MAX_INPUT (1 << 20)   /* bytes of model text looked at (the tail is kept) */
#define G_MAX_ANSWER 4096       /* bytes of one candidate answer that get parsed */
#define G_MAX_NODES 4000        /* tree nodes per parse */
#define G_MAX_DEPTH 60          /* recursion depth of the parser and of every tree walk */
#define G_MAX_CANDIDATES 48     /* candidates tried per priority tier */
#define G_ARENA_BUDGET (24u << 20) /* bytes one grading may allocate */
#define G_MAX_EVAL_STEPS 200000 /* evaluation work (nodes visited, sum terms) per value */
#define G_NPOINTS 5             /* random points for expressions with variables */

/* ---- arena ---- */
typedef struct garena_chunk garena_chunk;
typedef struct garena {
    garena_chunk *head;
    size_t used;      /* bytes handed out in total (against G_ARENA_BUDGET) */
    int failed;       /* 1 after any allocation failed */
} garena;

void *ga_alloc(garena *a, size_t n);                   /* zeroed, 16-aligned, NULL on failure */
char *ga_strndup(garena *a, const char *s, size_t n);
void ga_free(garena *a);

/* ---- exact rationals (numerator / denominator in 128 bits) ---- */
typedef __int128 gi128;
typedef struct grat {
    gi128 p, q;   /* q > 0, gcd(p, q) = 1 */
    int ok;       /* 0: not representable (overflow, division by zero, irrational) */
} grat;

grat gr_make(gi128 p, gi128 q);
grat gr_add(grat a, grat b);
grat gr_sub(grat a, grat b);
grat gr_mul(grat a, grat b);
grat gr_div(grat a, grat b);
grat gr_pow(grat a, long e);
int gr_cmp(grat a, grat b);               /* -1, 0, 1 (both ok) */
double gr_double(grat a);
/* Print p or p/q into buf (size >= 96). */
void gr_print(grat a, char *buf, size_t n);

/* ---- expression tree ---- */
typedef enum gkind {
    G_NUM,      /* number literal: num (exact when num.ok), dval, flags G_FLOAT, base */
    G_SYM,      /* variable: name (lowercased, with subscript "a_37", primes) */
    G_CONST,    /* constant: op = GC_PI, GC_E, GC_I, GC_INF */
    G_TEXT,     /* \text{...}: name = lowercased letters and digits */
    G_ADD,      /* kid[0] + kid[1] + ... */
    G_MUL,      /* kid[0] * kid[1] * ... ; name = the letters when it came from a word "abc" */
    G_DIV,      /* kid[0] / kid[1] */
    G_POW,      /* kid[0] ^ kid[1] */
    G_NEG,      /* -kid[0] */
    G_PM,       /* kid[0] ± kid[1] (kid[0] may be NULL: ±kid[1]); op 1 for \mp */
    G_FUNC,     /* name(kid...) : known functions (sin, sqrt, log, abs, ...) or undefined f(x) */
    G_FACT,     /* kid[0]! */
    G_PCT,      /* kid[0] % (value kid[0] / 100) */
    G_SUM,      /* name = index; kid = lo, hi, body ; op 1 for a product */
    G_TUPLE,    /* (a, b, c) ordered */
    G_SET,      /* {a, b, c} unordered (written order kept) */
    G_INTERVAL, /* kid[0], kid[1]; flags G_LOPEN / G_ROPEN */
    G_UNION,    /* kid[0] ∪ kid[1] ∪ ... */
    G_INTER,    /* kid[0] ∩ kid[1] */
    G_SETMINUS, /* kid[0] \ kid[1] */
    G_MATRIX,   /* rows x cols kids, row-major */
    G_REL,      /* chain kid[0] op[0] kid[1] op[1] kid[2] ... (ops in rel) */
    G_UNIVERSE, /* op = GU_REALS, ..., GU_EMPTY */
} gkind;

enum { GC_PI = 1, GC_E, GC_I, GC_INF };
enum { GU_REALS = 1, GU_INTEGERS, GU_NATURALS, GU_RATIONALS, GU_COMPLEX, GU_EMPTY };
enum { GR_EQ = 1, GR_NE, GR_LT, GR_LE, GR_GT, GR_GE };

#define G_FLOAT 1   /* G_NUM written with a decimal point / exponent */
#define G_LOPEN 2   /* G_INTERVAL: open at the left */
#define G_ROPEN 4   /* G_INTERVAL: open at the right */

typedef struct gnode gnode;
struct gnode {
    uint8_t kind;      /* gkind */
    uint8_t flags;
    int16_t op;        /* constant / universe / \mp / product */
    int nkid;
    gnode **kid;
    const char *name;  /* symbol / text / function name / word */
    uint8_t *rel;      /* G_REL: nkid-1 relation ops */
    int rows, cols;    /* G_MATRIX */
    int base;          /* G_NUM: base subscript (0 = none) */
    grat num;          /* G_NUM: exact value when num.ok */
    double dval;       /* G_NUM: value as a double */
};

/* A parsing context: arena + node budget. */
typedef struct gctx {
    garena *a;
    int nodes;
    int opt_strict;
} gctx;

gnode *gn_new(gctx *c, int kind, int nkid);

/* normalize.c: clean one candidate answer string (Math-Verify's normalize_latex, in our
 * own terms). `boxed_last`: take only the last \boxed{} group (else every \boxed{}).
 * Returns an arena string. */
char *gnorm_latex(garena *a, const char *s, size_t n, int boxed_last);
/* Content of the last \boxed{}/\fbox{} group in s (with earlier boxes joined by "," when
 * they are separated by "and", "or", "," or almost nothing); NULL when there is none. */
char *gnorm_boxed_last(garena *a, const char *s, size_t n);

/* parse.c: parse cleaned LaTeX into a tree (NULL when it does not parse). */
gnode *gparse(gctx *c, const char *s);
/* Parse with Math-Verify's fallback: when the whole fails and it is an a = b = c chain
 * without commas, parse only the last part. */
gnode *gparse_answer(gctx *c, const char *s);

/* eval.c */
/* Exact rational value of a tree with no variables, or .ok = 0. */
grat geval_exact(const gnode *n);
/* Variables of a tree (distinct names, sorted); returns the count (capped at max). */
int gvars(const gnode *n, const char **names, int max);
/* Complex value of a scalar tree with variables bound to vals[] (names as from gvars);
 * returns 0 and *out, or -1 when the tree is not a scalar or cannot be evaluated. */
int geval_num(const gnode *n, const char *const *names, const double complex *vals, int nvar,
              double complex *out);
/* A matrix value: rows x cols complex entries (at most 64). */
typedef struct gmat {
    int rows, cols;
    double complex v[64];
} gmat;
/* Evaluate a matrix-valued tree (literal matrices, +, -, scalar *, matrix *). 0 or -1. */
int geval_mat(const gnode *n, const char *const *names, const double complex *vals, int nvar,
              gmat *out);
/* 1 when the tree holds a matrix literal somewhere at the top (sum/product of matrices). */
int gis_matrix_expr(const gnode *n);
/* The point values used for variable number i at point k (deterministic). */
double complex gpoint(int k, int i);

/* compare.c */
typedef struct gcmp_opts {
    int float_rounding, strict, set_relation, integer_only;
} gcmp_opts;
int gequal(gctx *c, gnode *gold, gnode *pred, const gcmp_opts *o);
/* Structural equality of two trees (names, numbers, order). */
int gsame(const gnode *a, const gnode *b, int depth);
/* 1 when the tree is only symbols (a, AB, f(x), (p,q), A:B) — an assignment's left side */
int gonly_symbols(const gnode *n, int depth);

/* key.c: canonical key of a parsed answer into buf. */
int gkey(gctx *c, gnode *n, char *buf, size_t cap);

/* extract.c: the answer string of a text under options (arena string) or NULL. The
 * tree it parsed to is returned in *tree when tree != NULL (NULL when it did not parse). */
char *gextract(gctx *c, const char *text, const char *gold, const pd_grade_opts *o,
               gnode **tree);
/* 1 when a gold answer is a multiple-choice letter (A-E, "(C)", \text{C}). */
int gis_choice(const char *gold, char *letter);

#endif
