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

/* ---- limits: every input finishes in bounded time and memory ----
 *
 * The limits an answer meets are stated in what a user sees (docs/GRADING.md, "Bounds"): an
 * answer that breaks one is never parsed in part: it is compared whole as normalised text
 * and reported as not parsed. */
#define G_MAX_INPUT (1 << 20)   /* bytes of model text looked at (the tail is kept) */
#define G_MAX_ANSWER (1 << 20)  /* bytes of one answer that get parsed (longer: text) */
#define G_MAX_NEST 100          /* brackets ( [ { \{ nested in one answer */
#define G_MAX_TREE 400          /* levels of the expression tree (operators inside operators) */
#define G_MAX_NODES 400000      /* tree nodes per grading (a 300 x 300 matrix is ~90,000) */
#define G_MAX_PARSE_DEPTH 2000  /* parser recursion: <= 12 frames per bracket, 1 per sign */
#define G_MAX_DEPTH (G_MAX_TREE + 48) /* recursion of every tree walk (compare adds a few) */
#define G_MAX_CANDIDATES 48     /* candidates tried per priority tier */
#define G_ARENA_BUDGET (96u << 20) /* bytes one grading may allocate (big numbers included) */
#define G_MAX_EVAL_STEPS 200000 /* evaluation work (nodes visited, sum terms) per value */
#define G_MAX_BITS 65536        /* bits of an exact numerator or denominator (~19,700 digits) */
#define G_NPOINTS 5             /* random points for expressions with variables */

/* ---- arena ---- */
typedef struct garena_chunk garena_chunk;
typedef struct gbig gbig;
typedef struct garena {
    garena_chunk *head;
    gbig *bigs;       /* GMP rationals made in this arena, cleared by ga_free */
    size_t used;      /* bytes handed out in total (against G_ARENA_BUDGET) */
    int failed;       /* 1 after any allocation failed */
} garena;

void *ga_alloc(garena *a, size_t n);                   /* zeroed, 16-aligned, NULL on failure */
char *ga_strndup(garena *a, const char *s, size_t n);
void ga_free(garena *a);

/* ---- exact rationals (rat.c) ----
 * A value is held in two 128-bit integers while it fits (the common case, no allocation),
 * and in a GMP rational (mpq_t) made in the arena when it does not. The form is canonical:
 * a value that fits is always small, so equal values have equal forms. Operations that
 * would pass G_MAX_BITS return .ok = 0 ("not exact"). */
typedef __int128 gi128;
typedef struct grat {
    gi128 p, q;   /* small form (big == NULL): q > 0, gcd(p, q) = 1, |p|, q < 2^126 */
    gbig *big;    /* big form: a canonical mpq_t in the arena */
    int ok;       /* 0: not representable (too big, division by zero, irrational) */
} grat;

grat gr_make(gi128 p, gi128 q);           /* small p/q reduced (no arena needed) */
grat gr_bad(void);
grat gr_add(garena *a, grat x, grat y);
grat gr_sub(garena *a, grat x, grat y);
grat gr_mul(garena *a, grat x, grat y);
grat gr_div(garena *a, grat x, grat y);
grat gr_neg(garena *a, grat x);
grat gr_abs(garena *a, grat x);
grat gr_pow(garena *a, grat x, long e);   /* integer power (0^0 and 0^-k not exact) */
grat gr_floor(garena *a, grat x, int ceil_);
grat gr_fact(garena *a, grat n);          /* n! for an integer 0 <= n within G_MAX_BITS */
grat gr_binom(garena *a, grat n, grat k); /* binomial coefficient of integers n >= 0, k */
grat gr_sqrt(garena *a, grat x);          /* exact square root of a perfect square, else bad */
/* Decimal literal: digits d[0..nd) with frac_digits after the point, times 10^exp10. */
grat gr_decimal(garena *a, const char *d, size_t nd, long frac_digits, long exp10);
int gr_eq(grat x, grat y);                /* exact equality (0 when either is not ok) */
int gr_cmp(grat x, grat y);               /* -1, 0, 1 (both ok) */
int gr_sign(grat x);
int gr_is_int(grat x);
int gr_to_long(grat x, long *out);        /* 1 when x is an integer that fits a long */
double gr_double(grat x);                 /* nearest double (+-inf / 0 past the range) */
/* "p" or "p/q" as an arena string (NULL when out of memory). */
char *gr_str(garena *a, grat x);
/* Round x * 10^k to the nearest integer (halves away from zero) and compare: 1 when x
 * and y round to the same k-decimal value. */
int gr_round_eq(garena *a, grat x, grat y, int k);
void gr_clear_all(garena *a);             /* ga_free's: clear every GMP value of the arena */

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
    G_TIME,     /* time of day: base = seconds after midnight (0..86399); op = GT_AM / GT_PM /
                   0 (no marker); flags G_SECS when written with seconds; num = the value
                   as written read without the clock (3:05 is 3/5, "3 pm" is 3) */
} gkind;

enum { GC_PI = 1, GC_E, GC_I, GC_INF };
enum { GU_REALS = 1, GU_INTEGERS, GU_NATURALS, GU_RATIONALS, GU_COMPLEX, GU_EMPTY };
enum { GR_EQ = 1, GR_NE, GR_LT, GR_LE, GR_GT, GR_GE };

#define G_FLOAT 1   /* G_NUM written with a decimal point / exponent */
#define G_LOPEN 2   /* G_INTERVAL: open at the left */
#define G_ROPEN 4   /* G_INTERVAL: open at the right */
#define G_SECS 8    /* G_TIME: written with seconds */
#define G_SCI 16    /* G_NUM: written with an exponent (1.5e-8) */
enum { GT_AM = 1, GT_PM = 2 };

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
    int nodes;       /* tree nodes made so far (against G_MAX_NODES) */
    int opt_strict;
    int limit_hit;   /* the last gparse stopped at a limit (the answer is read as text) */
    int depth_hit;   /* the parser's recursion limit was reached (sticky) */
} gctx;

gnode *gn_new(gctx *c, int kind, int nkid);

/* normalize.c: clean one candidate answer string (Math-Verify's normalize_latex, in our
 * own terms). `boxed_last`: take only the last \boxed{} group (else every \boxed{}).
 * Returns an arena string. */
char *gnorm_latex(garena *a, const char *s, size_t n, int boxed_last);
/* Content of the last \boxed{}/\fbox{} group in s (with earlier boxes joined by "," when
 * they are separated by "and", "or", "," or almost nothing); NULL when there is none. */
char *gnorm_boxed_last(garena *a, const char *s, size_t n);

/* A time of day as written: hour, minutes, seconds, whether written with a colon / with
 * seconds, and its marker (GT_AM, GT_PM or 0). */
typedef struct gtime {
    int h, m, s, colon, secs, marker;
} gtime;
/* parse.c: a time of day at s[i] — "H:MM", "H:MM:SS" (hours 0-23, or 1-12 with a marker) or
 * "H am" — with an optional marker a.m. / p.m. / am / pm (any case; glued, after spaces or
 * \, ~, or in \text{}); returns its end, or 0 when there is none. */
size_t gtime_scan(const char *s, size_t n, size_t i, gtime *t);

/* parse.c: parse cleaned LaTeX into a tree (NULL when it does not parse; c->limit_hit
 * when it was not read because of a limit). */
gnode *gparse(gctx *c, const char *s);
/* Parse with Math-Verify's fallback: when the whole fails and it is an a = b = c chain
 * without commas, parse only the last part. */
gnode *gparse_answer(gctx *c, const char *s);

/* eval.c */
/* Exact rational value of a tree with no variables, or .ok = 0. */
grat geval_exact(gctx *c, const gnode *n);
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
    double rel_tol;   /* > 0: a side with a decimal literal may differ by this relative error */
} gcmp_opts;
int gequal(gctx *c, gnode *gold, gnode *pred, const gcmp_opts *o);
/* Structural equality of two trees (names, numbers, order). */
int gsame(const gnode *a, const gnode *b, int depth);
/* 1 when the tree is only symbols (a, AB, f(x), (p,q), A:B) — an assignment's left side */
int gonly_symbols(const gnode *n, int depth);

/* key.c: canonical key of a parsed answer (arena string), NULL when it cannot be keyed. */
char *gkey(gctx *c, gnode *n);

/* extract.c: the answer string of a text under options (arena string) or NULL. The
 * tree it parsed to is returned in *tree when tree != NULL (NULL when it did not parse). */
char *gextract(gctx *c, const char *text, const char *gold, const pd_grade_opts *o,
               gnode **tree);
/* 1 when the text holds an answer anchor ("answer", "答案", "Réponse", ...). */
int ghas_anchor(const char *s, size_t n);
/* choice.c: 1 and the letter when a gold is a multiple-choice answer: a capital letter
 * ("C", "(C)", "\text{(C)}") or a letter with its option text ("(B) 42 apples", "B. 7");
 * *option (may be NULL) gets the option text or NULL. loose (mode mcq): also "b",
 * "Option B", "Answer: B". */
int gchoice_gold(const char *gold, char *letter, const char **option, int loose);
/* The chosen letter among A..maxl in a model's text (tiers in choice.c), or 0; loose (mode
 * mcq): anchored lowercase letters count too. */
char gfind_letter(const char *s, size_t n, char maxl, int loose);

#endif
