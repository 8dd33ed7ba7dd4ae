/* tree.c — the search tree: nodes in one array, step texts and token ids in arenas.
 *
 * A tree holds one search. Nodes are appended, never removed: a pruned node stays in the
 * array (flagged, its backend resources released) so ids stay stable and nothing is
 * malloc'd per node. Arrays grow by doubling, so a search of a few thousand nodes costs a
 * handful of reallocations. Texts are spans (offset, length) into one byte arena; a step's
 * text already ends with its delimiter ("\n\n") when it has one, so a solution is the plain
 * concatenation of the step texts along its path.
 *
 * Seeds: the root's seed comes from the search (seed, problem id); a child's seed is a hash
 * of its parent's seed and its child index. Any backend that samples from the node seed is
 * therefore deterministic whatever the batch a request lands in.
 *
 * Aggregation of step rewards along a path (last / min / prod / mean) is computed on demand
 * by walking parent links: paths are short (at most a few dozen steps). */
#include "ponder/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Start a tree with its root node. Returns 0 or PD_ENOMEM. */
int pd_tree_init(pd_tree *t, const pd_problem *prob, uint64_t root_seed) {
    memset(t, 0, sizeof *t);
    t->prob = prob;
    t->temperature = 0.8f;
    t->top_p = 1.0f;
    t->step_max_tokens = 2048;
    size_t cap = 0;
    if (pd_grow((void **)&t->nodes, &cap, 64, sizeof(pd_node))) return PD_ENOMEM;
    t->cap_nodes = (int32_t)cap;
    pd_node *r = &t->nodes[0];
    memset(r, 0, sizeof *r);
    r->parent = -1;
    r->reward = -1.0f;
    r->seed = root_seed;
    r->status = PD_NODE_STEP_ENDED; /* the prompt can be extended */
    t->n_nodes = 1;
    return 0;
}

/* Free the arrays and the backend's per-tree state. */
void pd_tree_free(pd_tree *t) {
    if (!t) return;
    if (t->bstate_free && t->bstate) t->bstate_free(t->bstate);
    free(t->nodes);
    free(t->text);
    free(t->ids);
    memset(t, 0, sizeof *t);
}

/* The seed of child `index` of `parent`. */
uint64_t pd_tree_child_seed(const pd_tree *t, int32_t parent, uint32_t index) {
    return pd_hash_mix(t->nodes[parent].seed, (uint64_t)index + 1);
}

/* Append a child node; copies the text and ids into the arenas. Returns its id or -1. */
int32_t pd_tree_add(pd_tree *t, int32_t parent, uint64_t seed, const char *text, size_t text_len,
                    const int32_t *ids, size_t n_ids, uint32_t n_tokens, int status,
                    uint64_t handle) {
    if (parent < 0 || parent >= t->n_nodes || t->n_nodes == INT32_MAX) return -1;
    if (text_len > UINT32_MAX || t->text_len + text_len > UINT32_MAX) return -1;
    if (n_ids > UINT32_MAX || t->ids_len + n_ids > UINT32_MAX) return -1;
    if (t->n_nodes >= t->cap_nodes) {
        size_t cap = (size_t)t->cap_nodes;
        if (pd_grow((void **)&t->nodes, &cap, (size_t)t->n_nodes + 1, sizeof(pd_node))) return -1;
        t->cap_nodes = cap > INT32_MAX ? INT32_MAX : (int32_t)cap;
    }
    if (text_len && t->text_len + text_len > t->text_cap &&
        pd_grow((void **)&t->text, &t->text_cap, t->text_len + text_len, 1))
        return -1;
    if (n_ids && t->ids_len + n_ids > t->ids_cap &&
        pd_grow((void **)&t->ids, &t->ids_cap, t->ids_len + n_ids, sizeof(int32_t)))
        return -1;
    int32_t id = t->n_nodes++;
    pd_node *n = &t->nodes[id];
    n->parent = parent;
    n->depth = t->nodes[parent].depth + 1;
    n->text_off = (uint32_t)t->text_len;
    n->text_len = (uint32_t)text_len;
    if (text_len) memcpy(t->text + t->text_len, text, text_len);
    t->text_len += text_len;
    n->ids_off = (uint32_t)t->ids_len;
    n->ids_len = (uint32_t)n_ids;
    if (n_ids) memcpy(t->ids + t->ids_len, ids, n_ids * sizeof(int32_t));
    t->ids_len += n_ids;
    n->n_tokens = n_tokens;
    n->reward = -1.0f;
    n->n_children = 0;
    n->status = (uint8_t)status;
    n->pruned = 0;
    n->seed = seed;
    n->handle = handle;
    n->vhandle = 0;
    n->conf = n->certainty = n->conf_low = 0.0f;
    n->stopped = 0;
    t->nodes[parent].n_children++;
    return id;
}

/* Node ids from the first step to `leaf` (root excluded); returns the path length. */
int32_t pd_tree_path(const pd_tree *t, int32_t leaf, int32_t *out, int32_t cap) {
    int32_t len = t->nodes[leaf].depth;
    for (int32_t id = leaf, i = len - 1; id > 0; id = t->nodes[id].parent, i--)
        if (i < cap) out[i] = id;
    return len;
}

/* The concatenated step texts from the root to `leaf`; malloc'd, or NULL when out of memory. */
char *pd_tree_path_text(const pd_tree *t, int32_t leaf) {
    size_t total = 0;
    for (int32_t id = leaf; id > 0; id = t->nodes[id].parent) total += t->nodes[id].text_len;
    char *s = malloc(total + 1);
    if (!s) return NULL;
    size_t end = total;
    for (int32_t id = leaf; id > 0; id = t->nodes[id].parent) {
        const pd_node *n = &t->nodes[id];
        end -= n->text_len;
        memcpy(s + end, t->text + n->text_off, n->text_len);
    }
    s[total] = 0;
    return s;
}

/* Aggregate the scored step rewards from the root to `leaf`. */
double pd_tree_aggregate(const pd_tree *t, int32_t leaf, pd_agg agg) {
    double acc = agg == PD_AGG_MIN ? INFINITY : agg == PD_AGG_PROD ? 1.0 : 0.0;
    int n = 0;
    for (int32_t id = leaf; id > 0; id = t->nodes[id].parent) {
        float r = t->nodes[id].reward;
        if (r < 0) continue;
        if (agg == PD_AGG_LAST) return r; /* the deepest scored step */
        if (agg == PD_AGG_MIN) acc = r < acc ? r : acc;
        else if (agg == PD_AGG_PROD) acc *= r;
        else acc += r;
        n++;
    }
    if (!n) return 0.0;
    return agg == PD_AGG_MEAN ? acc / n : acc;
}

/* Aggregate an array of step rewards (first step first). 0 for an empty array. */
double pd_agg_rewards(const float *r, size_t n, pd_agg agg) {
    if (!n) return 0.0;
    if (agg == PD_AGG_LAST) return r[n - 1];
    double acc = agg == PD_AGG_MIN ? INFINITY : agg == PD_AGG_PROD ? 1.0 : 0.0;
    for (size_t i = 0; i < n; i++) {
        if (agg == PD_AGG_MIN) acc = r[i] < acc ? r[i] : acc;
        else if (agg == PD_AGG_PROD) acc *= r[i];
        else acc += r[i];
    }
    return agg == PD_AGG_MEAN ? acc / (double)n : acc;
}

static const char *AGG_NAMES[] = {"last", "min", "prod", "mean"};

const char *pd_agg_name(pd_agg a) {
    return (unsigned)a < 4 ? AGG_NAMES[a] : "?";
}

int pd_agg_parse(const char *s, pd_agg *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, AGG_NAMES[i])) {
            *out = (pd_agg)i;
            return 0;
        }
    return -1;
}
