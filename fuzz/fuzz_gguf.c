/* fuzz_gguf.c — libFuzzer target for the GGUF reader (src/model/gguf.c).
 *
 * The input is a whole file image. When the parser accepts it, the invariants the loaders
 * rely on are checked: every tensor's bytes lie inside the data section at an aligned
 * offset, its size is whole blocks of its type, non-empty tensors do not overlap, lookups
 * by name find each tensor and key, and every typed getter and array walk stays inside the
 * image. A refusal must say what is wrong. An accepted file's tokenizer metadata is also
 * written out as tokenizer.json text (tokenizer_gguf.c), which must not crash either. */
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/tokenizer_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_gguf g;
    pd_error err = {0};
    if (pd_gguf_parse(data, size, "fuzz.gguf", &g, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (g.data_off > size || g.alignment == 0 || (g.alignment & (g.alignment - 1))) abort();
    for (size_t i = 0; i < g.n_tensors; i++) {
        const pd_gguf_tensor *t = &g.tensors[i];
        size_t blck = pd_ggml_block_elems(t->type);
        if (!blck || t->ne[0] % blck || t->size != t->n_elems / blck * pd_ggml_block_bytes(t->type)) abort();
        if (t->offset % g.alignment || t->data != data + g.data_off + t->offset || t->data + t->size > data + size) abort();
        if (pd_gguf_tensor_find(&g, t->name) != t) abort();
        for (size_t k = 0; k < g.n_tensors; k++)
            if (k != i && t->size && g.tensors[k].size && t->offset < g.tensors[k].offset + g.tensors[k].size &&
                g.tensors[k].offset < t->offset + t->size)
                abort();
    }
    for (size_t i = 0; i < g.n_kv; i++) {
        const pd_gguf_kv *kv = &g.kv[i];
        if (pd_gguf_find(&g, kv->key) != kv) abort();
        int64_t v;
        double d;
        const char *s;
        size_t n;
        pd_gguf_get_int(&g, kv->key, 1, 0, INT64_MIN, INT64_MAX, &v, &err);
        pd_gguf_get_float(&g, kv->key, 1, 0, -1e300, 1e300, &d, &err);
        if (!pd_gguf_get_str(&g, kv->key, &s, &n, &err) && (s < (const char *)data || s + n > (const char *)data + size)) abort();
        if (kv->type != PD_GGUF_ARRAY) continue;
        size_t off = kv->off;
        for (uint64_t k = 0; k < kv->n; k++) {
            if (kv->arr_type == PD_GGUF_STRING) {
                pd_gguf_arr_str_next(&g, &off, &s, &n);
                if (s + n > (const char *)data + size) abort();
            } else if (kv->arr_type == PD_GGUF_F32) {
                (void)pd_gguf_arr_f32(&g, kv, k);
            } else if (kv->arr_type != PD_GGUF_ARRAY && kv->arr_type != PD_GGUF_F64) {
                (void)pd_gguf_arr_int(&g, kv, k);
            }
        }
    }
    pd_buf tj = {0}, cj = {0};
    if (tok_gguf_json(&g, "fuzz.gguf", &tj, &cj, &err) && !err.msg[0]) abort();
    pd_buf_free(&tj);
    pd_buf_free(&cj);
    pd_gguf_close(&g);
    return 0;
}
