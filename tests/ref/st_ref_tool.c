/* Helper for tests/ref/safetensors_check.py, which checks our safetensors code against its
 * own struct + json + numpy reading and writing of the format.
 *
 *   st_ref_tool write OUT   writes the fixed tensors the script expects (see VALUES there)
 *   st_ref_tool dump IN     prints "name dtype [shape]" and then one value per line: float
 *                           dtypes as the hex bits of the float32 ad_st_read_f32 returns,
 *                           integer dtypes as decimal numbers */
#include "adaptor/error.h"
#include "adaptor/safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same decimal literals as VALUES in safetensors_check.py. */
static const float values[12] = {1.0f,      0.33333334f,   -0.1f,       65504.0f,
                                 65519.0f,  65520.0f,      1e-07f,      -3e-08f,
                                 100000.0f, 1.00048828125f, 1.00390625f, 1.01171875f};

static int write_file(const char *path)
{
    ad_st_writer *w;
    AD_TRY(ad_st_writer_create(&w));
    const int64_t s34[2] = {3, 4}, s12 = 12, s3 = 3, s22[2] = {2, 2}, s4 = 4, s5 = 5, s2 = 2,
                  s03[2] = {0, 3};
    const int64_t i64[3] = {-1, (int64_t)1 << 40, 7};
    const int32_t i32[4] = {-5, 0, 2147483647, -2147483647 - 1};
    const int16_t i16[3] = {-32768, 1, 32767};
    const int8_t i8[4] = {-128, -1, 0, 127};
    const uint8_t u8[5] = {0, 1, 128, 254, 255};
    const uint8_t mask[3] = {1, 0, 1};
    const double f64[2] = {0.1, -2.5e300};
    const float scalar = 42.0f;
    int rc = AD_OK;
    AD_CHECK(ad_st_writer_add_f32_as(w, "x.f32", AD_DT_F32, 2, s34, values));
    AD_CHECK(ad_st_writer_add_f32_as(w, "x.f16", AD_DT_F16, 1, &s12, values));
    AD_CHECK(ad_st_writer_add_f32_as(w, "x.bf16", AD_DT_BF16, 1, &s12, values));
    AD_CHECK(ad_st_writer_add(w, "ints.i64", AD_DT_I64, 1, &s3, i64));
    AD_CHECK(ad_st_writer_add(w, "ints.i32", AD_DT_I32, 2, s22, i32));
    AD_CHECK(ad_st_writer_add(w, "ints.i16", AD_DT_I16, 1, &s3, i16));
    AD_CHECK(ad_st_writer_add(w, "ints.i8", AD_DT_I8, 1, &s4, i8));
    AD_CHECK(ad_st_writer_add(w, "u", AD_DT_U8, 1, &s5, u8));
    AD_CHECK(ad_st_writer_add(w, "mask", AD_DT_BOOL, 1, &s3, mask));
    AD_CHECK(ad_st_writer_add(w, "d", AD_DT_F64, 1, &s2, f64));
    AD_CHECK(ad_st_writer_add(w, "scalar", AD_DT_F32, 0, NULL, &scalar));
    AD_CHECK(ad_st_writer_add(w, "empty", AD_DT_F32, 2, s03, NULL));
    AD_CHECK(ad_st_writer_set_metadata(w, "format", "pt"));
    AD_CHECK(ad_st_writer_set_metadata(w, "producer", "adaptor \"test\" \xc3\xa9"));
    AD_CHECK(ad_st_writer_write(w, path));
done:
    ad_st_writer_destroy(w);
    return rc;
}

static int dump_file(const char *path)
{
    ad_safetensors *st;
    AD_TRY(ad_st_open(path, &st));
    int rc = AD_OK;
    for (size_t i = 0; i < ad_st_count(st); i++) {
        const ad_st_tensor *t = ad_st_at(st, i);
        char shape[256];
        ad_st_format_shape(shape, sizeof shape, t->ndim, t->shape);
        printf("%s %s %s\n", t->name, ad_dtype_name(t->dtype), shape);
        const unsigned char *p = t->data;
        size_t n = (size_t)t->numel;
        if (t->dtype == AD_DT_F32 || t->dtype == AD_DT_F16 || t->dtype == AD_DT_BF16 ||
            t->dtype == AD_DT_F64) {
            float *v = malloc((n ? n : 1) * sizeof *v);
            if (!v) {
                rc = ad_fail(AD_ERR_NOMEM, "out of memory");
                break;
            }
            rc = ad_st_read_f32(st, t->name, t->ndim, t->shape, v);
            for (size_t k = 0; rc == AD_OK && k < n; k++) {
                uint32_t bits;
                memcpy(&bits, &v[k], 4);
                printf("%08" PRIx32 "\n", bits);
            }
            free(v);
            if (rc != AD_OK)
                break;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            long long x = 0;
            switch (t->dtype) {
            case AD_DT_I64: { int64_t y; memcpy(&y, p + 8 * k, 8); x = y; break; }
            case AD_DT_I32: { int32_t y; memcpy(&y, p + 4 * k, 4); x = y; break; }
            case AD_DT_I16: { int16_t y; memcpy(&y, p + 2 * k, 2); x = y; break; }
            case AD_DT_I8: x = (int8_t)p[k]; break;
            default: x = p[k]; break;
            }
            printf("%lld\n", x);
        }
    }
    for (size_t i = 0; rc == AD_OK && i < ad_st_metadata_count(st); i++) {
        const char *k = ad_st_metadata_key(st, i);
        printf("metadata %s=%s\n", k, ad_st_metadata(st, k));
    }
    ad_st_close(st);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "dump") != 0)) {
        fprintf(stderr, "usage: st_ref_tool write|dump FILE\n");
        return 2;
    }
    int rc = strcmp(argv[1], "write") == 0 ? write_file(argv[2]) : dump_file(argv[2]);
    if (rc != AD_OK) {
        fprintf(stderr, "st_ref_tool: error: %s\n", ad_errmsg());
        return 1;
    }
    return 0;
}
