/* Tests of src/base: buffers, checked sizes, files, RNG. */
#include "ponder/base.h"
#include "test.h"

static void t_buf(void) {
    pd_buf b = {0};
    CHECK(pd_buf_puts(&b, "ab") == 0);
    CHECK(pd_buf_printf(&b, "%d-%s", 42, "x") == 0);
    CHECK_STR(b.data, "ab42-x");
    CHECK_EQ_INT(b.len, 6);
    pd_buf_reset(&b);
    CHECK(pd_buf_json_str(&b, "a\"b\\\n\x01", 6) == 0);
    CHECK_STR(b.data, "\"a\\\"b\\\\\\n\\u0001\"");
    char *s = pd_buf_steal(&b);
    CHECK(b.data == NULL && b.len == 0);
    free(s);
}

static void t_sizes(void) {
    size_t out;
    CHECK(pd_mul_size(1u << 20, 1u << 20, &out) == 0 && out == (size_t)1 << 40);
    CHECK(pd_mul_size(SIZE_MAX / 2, 3, &out) == PD_ENOMEM);
    int *arr = NULL;
    size_t cap = 0;
    CHECK(pd_grow((void **)&arr, &cap, 100, sizeof *arr) == 0 && cap >= 100);
    CHECK(pd_grow((void **)&arr, &cap, SIZE_MAX / 2, sizeof *arr) == PD_ENOMEM);
    free(arr);
}

static void t_files(void) {
    pd_error err = {0};
    char *data;
    size_t len;
    CHECK(pd_file_read("no/such/file", &data, &len, &err) == PD_ENOTFOUND);
    CHECK(strstr(err.msg, "no/such/file") != NULL);
    CHECK(pd_mkdirs("build/tmp/test_base/a/b", &err) == 0);
    CHECK(pd_file_write("build/tmp/test_base/a/b/f.txt", "hello", 5, &err) == 0);
    CHECK(pd_file_read("build/tmp/test_base/a/b/f.txt", &data, &len, &err) == 0);
    CHECK(len == 5 && strcmp(data, "hello") == 0);
    free(data);
    pd_mmap m;
    CHECK(pd_mmap_open("build/tmp/test_base/a/b/f.txt", &m, &err) == 0);
    CHECK(m.len == 5 && memcmp(m.data, "hello", 5) == 0);
    pd_mmap_close(&m);
}

static void t_rng(void) {
    pd_rng a, b;
    pd_rng_seed(&a, 7);
    pd_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) CHECK(pd_rng_u64(&a) == pd_rng_u64(&b));
    pd_rng_seed(&b, 8);
    CHECK(pd_rng_u64(&a) != pd_rng_u64(&b));
    double sum = 0;
    int hist[10] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = pd_rng_f64(&a);
        CHECK(u >= 0 && u < 1);
        sum += u;
        hist[pd_rng_below(&a, 10)]++;
    }
    CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51);
    for (int i = 0; i < 10; i++) CHECK(hist[i] > 9500 && hist[i] < 10500);
    CHECK(pd_hash_mix(1, 2) != pd_hash_mix(2, 1));
}

int main(void) {
    RUN(t_buf);
    RUN(t_sizes);
    RUN(t_files);
    RUN(t_rng);
    return test_done();
}
