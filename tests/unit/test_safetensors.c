/* safetensors reader and writer: round trips, HuggingFace's byte layout, half-precision
 * conversions against hand-derived IEEE bit patterns, and corrupt files built byte by byte. */
#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/safetensors.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    ck_assert(fwrite(buf, 1, n, fp) == n);
    fclose(fp);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot read %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    ck_assert(fread(buf, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

/* A file made of an 8-byte little-endian length `hlen`, the header text and data bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *header, const void *data,
                      size_t dlen)
{
    size_t n = strlen(header);
    unsigned char *buf = malloc(8 + n + dlen + 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, n);
    if (dlen)
        memcpy(buf + 8 + n, data, dlen);
    write_bytes(path, buf, 8 + n + dlen);
    free(buf);
}

static void tmpfile_path(char *out, size_t n, const char *name)
{
    char dir[2048];
    tu_tmpdir(dir, sizeof dir, "st");
    snprintf(out, n, "%s/%s", dir, name);
}

static void assert_one_line(void)
{
    ck_assert_msg(strchr(ad_errmsg(), '\n') == NULL, "message spans lines: %s", ad_errmsg());
}

START_TEST(roundtrip_every_dtype)
{
    char path[4096];
    tmpfile_path(path, sizeof path, "all.safetensors");
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    static const struct {
        const char *name;
        ad_dtype dt;
        int ndim;
        int64_t shape[3];
    } spec[] = {
        {"z_f32", AD_DT_F32, 2, {3, 4}},  {"a_f32", AD_DT_F32, 1, {5}},
        {"f16", AD_DT_F16, 2, {2, 3}},    {"bf16", AD_DT_BF16, 1, {7}},
        {"f64", AD_DT_F64, 3, {2, 1, 3}}, {"i64", AD_DT_I64, 1, {3}},
        {"i32", AD_DT_I32, 0, {0}},       {"i16", AD_DT_I16, 2, {3, 3}},
        {"i8", AD_DT_I8, 1, {9}},         {"u8", AD_DT_U8, 2, {0, 4}},
        {"bool", AD_DT_BOOL, 1, {6}},
    };
    const size_t nspec = sizeof spec / sizeof spec[0];
    /* HuggingFace's order: decreasing dtype alignment rank (I64 > F64 > F32 > I32 > BF16 >
     * F16 > I16 > I8 > U8 > BOOL), then by name. */
    static const char *layout[] = {"i64", "f64", "a_f32", "z_f32", "i32", "bf16",
                                   "f16", "i16", "i8",    "u8",    "bool"};
    ad_st_writer *w;
    tu_assert_ok(ad_st_writer_create(&w));
    for (size_t i = 0; i < nspec; i++)
        tu_assert_ok(ad_st_writer_add(w, spec[i].name, spec[i].dt, spec[i].ndim, spec[i].shape,
                                      bytes + i));
    tu_assert_ok(ad_st_writer_set_metadata(w, "format", "pt"));
    tu_assert_ok(ad_st_writer_set_metadata(w, "note", "first"));
    tu_assert_ok(ad_st_writer_set_metadata(w, "note", "replaced"));
    tu_assert_fails(ad_st_writer_add(w, "i8", AD_DT_I8, 1, spec[0].shape, bytes), AD_ERR_ARG,
                    "'i8'");
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);

    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    ck_assert_uint_eq(ad_st_count(st), nspec);
    ck_assert_str_eq(ad_st_path(st), path);
    ck_assert_str_eq(ad_st_metadata(st, "format"), "pt");
    ck_assert_str_eq(ad_st_metadata(st, "note"), "replaced");
    ck_assert_ptr_null(ad_st_metadata(st, "absent"));
    ck_assert_uint_eq(ad_st_metadata_count(st), 2);
    for (size_t i = 1; i < ad_st_count(st); i++)
        ck_assert_int_lt(strcmp(ad_st_at(st, i - 1)->name, ad_st_at(st, i)->name), 0);
    for (size_t i = 0; i < nspec; i++) {
        const ad_st_tensor *t = ad_st_find(st, spec[i].name);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(t->dtype, spec[i].dt);
        ck_assert_int_eq(t->ndim, spec[i].ndim);
        int64_t numel = 1;
        for (int d = 0; d < spec[i].ndim; d++) {
            ck_assert_int_eq(t->shape[d], spec[i].shape[d]);
            numel *= spec[i].shape[d];
        }
        ck_assert_int_eq(t->numel, numel);
        ck_assert_uint_eq(t->nbytes, (size_t)numel * ad_dtype_size(spec[i].dt));
        ck_assert_str_eq(t->file, path);
        ck_assert_msg(memcmp(t->data, bytes + i, t->nbytes) == 0, "%s: bytes differ",
                      spec[i].name);
    }
    ck_assert_ptr_null(ad_st_find(st, "nope"));
    /* The data pointers follow HuggingFace's layout order, and every tensor starts at a
     * multiple of 8 from the first one (the header is padded to 8). */
    const unsigned char *base = ad_st_find(st, layout[0])->data;
    for (size_t i = 1; i < nspec; i++) {
        const unsigned char *prev = ad_st_find(st, layout[i - 1])->data;
        const ad_st_tensor *t = ad_st_find(st, layout[i]);
        ck_assert_msg(prev + ad_st_find(st, layout[i - 1])->nbytes == (const unsigned char *)t->data,
                      "%s does not follow %s", layout[i], layout[i - 1]);
        ck_assert_int_eq(((const unsigned char *)t->data - base) % (long)ad_dtype_size(t->dtype),
                         0);
    }
    ad_st_close(st);

    size_t n;
    unsigned char *file = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | file[i];
    ck_assert_uint_eq(hlen % 8, 0);
    ck_assert_int_eq(file[8], '{');
    ck_assert_msg(memcmp(file + 8, "{\"__metadata__\":", 16) == 0, "metadata must come first");
    free(file);
}
END_TEST

/* Byte-exact outputs from HuggingFace's own serializer tests (tensor.rs test_serialization
 * and test_empty). */
START_TEST(hf_byte_layout)
{
    char path[4096];
    tmpfile_path(path, sizeof path, "hf.safetensors");
    ad_st_writer *w;
    tu_assert_ok(ad_st_writer_create(&w));
    const float v[6] = {0, 1, 2, 3, 4, 5};
    const int64_t shape[3] = {1, 2, 3};
    tu_assert_ok(ad_st_writer_add(w, "attn.0", AD_DT_F32, 3, shape, v));
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);
    static const unsigned char want[] = {
        64,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,  34,
        58,  123, 34,  100, 116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,  44,  34,
        115, 104, 97,  112, 101, 34,  58,  91,  49,  44,  50,  44,  51,  93,  44,  34,  100,
        97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,  58,  91,  48,  44,  50,
        52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,  0,   0,   0,   64,  0,
        0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};
    size_t n;
    unsigned char *got = slurp(path, &n);
    ck_assert_uint_eq(n, sizeof want);
    ck_assert(memcmp(got, want, n) == 0);
    free(got);

    tu_assert_ok(ad_st_writer_create(&w));
    tu_assert_ok(ad_st_writer_set_metadata(w, "framework", "pt"));
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);
    static const unsigned char want2[] = {
        40, 0,   0,   0,   0,   0,   0,   0,   123, 34,  95, 95, 109, 101, 116, 97,
        100, 97, 116, 97,  95,  95,  34,  58,  123, 34,  102, 114, 97, 109, 101, 119,
        111, 114, 107, 34, 58,  34,  112, 116, 34,  125, 125, 32,  32, 32,  32,  32};
    got = slurp(path, &n);
    ck_assert_uint_eq(n, sizeof want2);
    ck_assert(memcmp(got, want2, n) == 0);
    free(got);
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    ck_assert_uint_eq(ad_st_count(st), 0);
    ck_assert_str_eq(ad_st_metadata(st, "framework"), "pt");
    ad_st_close(st);
}
END_TEST

/* IEEE 754 binary16 (1-5-10) and bfloat16 (1-8-7) patterns worked out by hand. */
static const struct {
    uint16_t bits;
    float value;
} f16_table[] = {
    {0x3C00, 1.0f},          {0xC000, -2.0f},          {0x7BFF, 65504.0f},
    {0x3E00, 1.5f},          {0x3555, 0.333251953125f}, /* 2^-2 * (1 + 341/1024) */
    {0x0001, 5.9604644775390625e-08f},                  /* 2^-24, smallest subnormal */
    {0x03FF, 6.0975551605224609375e-05f},               /* 1023 * 2^-24 */
    {0x0400, 6.103515625e-05f},                         /* 2^-14, smallest normal */
    {0x8000, -0.0f},         {0x7C00, INFINITY},        {0xFC00, -INFINITY},
};
static const struct {
    uint16_t bits;
    float value;
} bf16_table[] = {
    {0x3F80, 1.0f},       {0xC000, -2.0f},          {0x4049, 3.140625f}, /* 2 * (1 + 73/128) */
    {0x3EAB, 0.333984375f},                                               /* (1 + 43/128) / 4 */
    {0x0001, 0x1p-133f}, /* smallest bf16 subnormal: float bits 0x00010000 = 2^16 * 2^-149 */
    {0x7F80, INFINITY},   {0xFF80, -INFINITY},      {0x8000, -0.0f},
};

static void assert_same_float(float got, float want, unsigned bits)
{
    ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "0x%04X: got %.9g, want %.9g", bits,
                  (double)got, (double)want);
}

START_TEST(half_to_float)
{
    for (size_t i = 0; i < sizeof f16_table / sizeof f16_table[0]; i++)
        assert_same_float(ad_f16_to_f32(f16_table[i].bits), f16_table[i].value, f16_table[i].bits);
    for (size_t i = 0; i < sizeof bf16_table / sizeof bf16_table[0]; i++)
        assert_same_float(ad_bf16_to_f32(bf16_table[i].bits), bf16_table[i].value,
                          bf16_table[i].bits);
    ck_assert(isnan(ad_f16_to_f32(0x7E00)) && isnan(ad_f16_to_f32(0xFC01)));
    ck_assert(isnan(ad_bf16_to_f32(0x7FC0)) && isnan(ad_bf16_to_f32(0xFF81)));

    /* float -> half, round to nearest even */
    ck_assert_uint_eq(ad_f32_to_f16(1.0f), 0x3C00);
    ck_assert_uint_eq(ad_f32_to_f16(-2.0f), 0xC000);
    ck_assert_uint_eq(ad_f32_to_f16(65504.0f), 0x7BFF);
    ck_assert_uint_eq(ad_f32_to_f16(65519.99f), 0x7BFF);
    ck_assert_uint_eq(ad_f32_to_f16(65520.0f), 0x7C00); /* the halfway point goes to inf */
    ck_assert_uint_eq(ad_f32_to_f16(1e10f), 0x7C00);
    ck_assert_uint_eq(ad_f32_to_f16(-INFINITY), 0xFC00);
    ck_assert_uint_eq(ad_f32_to_f16(1.0f / 3.0f), 0x3555);
    ck_assert_uint_eq(ad_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);        /* tie -> even */
    ck_assert_uint_eq(ad_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);    /* tie -> even */
    ck_assert_uint_eq(ad_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    ck_assert_uint_eq(ad_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(ad_f32_to_f16(0x1p-25f), 0x0000);               /* tie -> even 0 */
    ck_assert_uint_eq(ad_f32_to_f16(3 * 0x1p-25f), 0x0002);           /* tie -> even 2 */
    ck_assert_uint_eq(ad_f32_to_f16(-0x1p-26f), 0x8000);
    ck_assert_uint_eq(ad_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);    /* tie -> normal */
    ck_assert_uint_eq(ad_f32_to_f16(0x1p-14f - 0x1p-24f), 0x03FF);
    uint16_t h = ad_f32_to_f16(NAN);
    ck_assert((h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0);

    ck_assert_uint_eq(ad_f32_to_bf16(1.0f), 0x3F80);
    ck_assert_uint_eq(ad_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);        /* tie -> even */
    ck_assert_uint_eq(ad_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);    /* tie -> even */
    ck_assert_uint_eq(ad_f32_to_bf16(1.0f / 3.0f), 0x3EAB);
    ck_assert_uint_eq(ad_f32_to_bf16(FLT_MAX), 0x7F80);
    h = ad_f32_to_bf16(NAN);
    ck_assert((h & 0x7F80) == 0x7F80 && (h & 0x007F) != 0);
}
END_TEST

START_TEST(read_f32_conversions)
{
    char path[4096];
    tmpfile_path(path, sizeof path, "half.safetensors");
    enum { NF = sizeof f16_table / sizeof f16_table[0], NB = sizeof bf16_table / sizeof bf16_table[0] };
    unsigned char f16[2 * NF], bf16[2 * NB];
    for (int i = 0; i < NF; i++) {
        f16[2 * i] = (unsigned char)(f16_table[i].bits & 0xff);
        f16[2 * i + 1] = (unsigned char)(f16_table[i].bits >> 8);
    }
    for (int i = 0; i < NB; i++) {
        bf16[2 * i] = (unsigned char)(bf16_table[i].bits & 0xff);
        bf16[2 * i + 1] = (unsigned char)(bf16_table[i].bits >> 8);
    }
    const double f64[3] = {0.1, -1e300, 3.0};
    const int64_t i64[2] = {1, 2};
    ad_st_writer *w;
    tu_assert_ok(ad_st_writer_create(&w));
    int64_t s = NF;
    tu_assert_ok(ad_st_writer_add(w, "h", AD_DT_F16, 1, &s, f16));
    s = NB;
    tu_assert_ok(ad_st_writer_add(w, "b", AD_DT_BF16, 1, &s, bf16));
    s = 3;
    tu_assert_ok(ad_st_writer_add(w, "d", AD_DT_F64, 1, &s, f64));
    s = 2;
    tu_assert_ok(ad_st_writer_add(w, "n", AD_DT_I64, 1, &s, i64));
    const float src[4] = {1.0f, 1.0f / 3.0f, 65520.0f, -0x1p-24f};
    s = 4;
    tu_assert_ok(ad_st_writer_add_f32_as(w, "h2", AD_DT_F16, 1, &s, src));
    tu_assert_ok(ad_st_writer_add_f32_as(w, "b2", AD_DT_BF16, 1, &s, src));
    tu_assert_fails(ad_st_writer_add_f32_as(w, "x", AD_DT_I32, 1, &s, src), AD_ERR_ARG, "'x'");
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);

    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    float out[16];
    s = NF;
    tu_assert_ok(ad_st_read_f32(st, "h", 1, &s, out));
    for (int i = 0; i < NF; i++)
        assert_same_float(out[i], f16_table[i].value, f16_table[i].bits);
    s = NB;
    tu_assert_ok(ad_st_read_f32(st, "b", 1, &s, out));
    for (int i = 0; i < NB; i++)
        assert_same_float(out[i], bf16_table[i].value, bf16_table[i].bits);
    s = 3;
    tu_assert_ok(ad_st_read_f32(st, "d", 1, &s, out));
    ck_assert(out[0] == 0.1f && isinf(out[1]) && out[1] < 0 && out[2] == 3.0f);
    s = 4;
    tu_assert_ok(ad_st_read_f32(st, "h2", 1, &s, out));
    assert_same_float(out[0], 1.0f, 0x3C00);
    assert_same_float(out[1], 0.333251953125f, 0x3555);
    assert_same_float(out[2], INFINITY, 0x7C00);
    assert_same_float(out[3], -5.9604644775390625e-08f, 0x8001);
    tu_assert_ok(ad_st_read_f32(st, "b2", 1, &s, out));
    assert_same_float(out[1], 0.333984375f, 0x3EAB);
    assert_same_float(out[2], 65536.0f, 0x4780); /* 65520 = 1.999... * 2^15 rounds up in bf16 */
    s = 2;
    tu_assert_fails(ad_st_read_f32(st, "n", 1, &s, out), AD_ERR_FORMAT, "'n'");
    assert_one_line();
    ad_st_close(st);
}
END_TEST

START_TEST(shape_mismatch_and_missing)
{
    char path[4096], want[4200];
    tmpfile_path(path, sizeof path, "m.safetensors");
    ad_st_writer *w;
    tu_assert_ok(ad_st_writer_create(&w));
    float v[12] = {0};
    const int64_t shape[2] = {3, 4}, other[2] = {4, 3};
    tu_assert_ok(ad_st_writer_add(w, "encoder.layer.0.x", AD_DT_F32, 2, shape, v));
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(path, &st));
    snprintf(want, sizeof want, "tensor 'encoder.layer.0.x' in %s has shape [3, 4], expected [4, 3]",
             path);
    tu_assert_fails(ad_st_read_f32(st, "encoder.layer.0.x", 2, other, v), AD_ERR_FORMAT, want);
    tu_assert_fails(ad_st_read_f32(st, "encoder.layer.0.x", 1, shape, v), AD_ERR_FORMAT,
                    "expected [3]");
    tu_assert_fails(ad_st_read_f32(st, "encoder.layer.1.x", 2, shape, v), AD_ERR_FORMAT,
                    "'encoder.layer.1.x'");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), path));
    assert_one_line();
    ad_st_close(st);
}
END_TEST

/* Opens a byte-built file that must be rejected; the message names the file, `reason` and,
 * when given, the tensor. */
static void expect_corrupt(const char *tag, uint64_t hlen, const char *header, const void *data,
                           size_t dlen, const char *reason, const char *tensor)
{
    char path[4096];
    tmpfile_path(path, sizeof path, tag);
    write_raw(path, hlen ? hlen : strlen(header), header, data, dlen);
    ad_safetensors *st = NULL;
    tu_assert_fails(ad_st_open(path, &st), AD_ERR_FORMAT, path);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(ad_errmsg(), reason) != NULL, "%s: '%s' does not say '%s'", tag,
                  ad_errmsg(), reason);
    if (tensor) {
        char quoted[256];
        snprintf(quoted, sizeof quoted, "'%s'", tensor);
        ck_assert_msg(strstr(ad_errmsg(), quoted) != NULL, "%s: '%s' does not name %s", tag,
                      ad_errmsg(), quoted);
    }
    assert_one_line();
}

START_TEST(corrupt_files)
{
    unsigned char data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (unsigned char)i;
    char path[4096];
    tmpfile_path(path, sizeof path, "short.safetensors");
    write_bytes(path, "\x10\x00\x00\x00\x00", 5);
    ad_safetensors *st = NULL;
    tu_assert_fails(ad_st_open(path, &st), AD_ERR_FORMAT, path);
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), "too short"));

    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    /* the baseline is fine: the other cases differ from it in one respect */
    tmpfile_path(path, sizeof path, "ok.safetensors");
    write_raw(path, strlen(ok), ok, data, 8);
    tu_assert_ok(ad_st_open(path, &st));
    ad_st_close(st);

    expect_corrupt("trunc_header", 500, ok, data, 8, "runs past the end", NULL);
    expect_corrupt("huge_header", (uint64_t)1 << 40, ok, data, 8, "100 MB", NULL);
    expect_corrupt("bad_json", 0, "{\"a\":{\"dtype\":\"F32\",", data, 0, "not valid JSON", NULL);
    expect_corrupt("not_object", 0, "[1, 2, 3]", data, 0, "not a JSON object", NULL);
    expect_corrupt("bad_utf8", 0, "{\"\xff\":1}", data, 0, "UTF-8", NULL);
    expect_corrupt("unknown_dtype", 0,
                   "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8,
                   "unknown dtype 'Q4'", "w");
    expect_corrupt("neg_shape", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", data, 8,
                   "shape", "w");
    expect_corrupt("frac_shape", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", data, 8,
                   "shape", "w");
    expect_corrupt("too_many_dims", 0,
                   "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
                   data, 1, "dimensions", "w");
    expect_corrupt("overflow", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                   "\"data_offsets\":[0,8]}}",
                   data, 8, "overflows", "w");
    expect_corrupt("no_offsets", 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", data, 8,
                   "data_offsets", "w");
    expect_corrupt("out_of_range", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}}", data, 16,
                   "past the data area", "w");
    expect_corrupt("reversed", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", data, 8,
                   "end before", "w");
    expect_corrupt("wrong_size", 0,
                   "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", data, 12,
                   "needs 16", "w");
    expect_corrupt("overlap", 0,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   data, 12, "overlaps tensor 'a'", "b");
    expect_corrupt("hole", 0,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                   data, 20, "hole of 4", "b");
    expect_corrupt("hole_at_start", 0,
                   "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 12,
                   "hole", "b");
    expect_corrupt("trailing", 0, ok, data, 12, "4 bytes after the last tensor", NULL);
    expect_corrupt("dup_name", 0,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   data, 8, "twice", "a");
    expect_corrupt("meta_not_map", 0, "{\"__metadata__\":[1]}", data, 0, "__metadata__", NULL);
    expect_corrupt("meta_not_string", 0, "{\"__metadata__\":{\"k\":1}}", data, 0,
                   "not a string", NULL);
    expect_corrupt("entry_not_object", 0, "{\"w\":3}", data, 0, "not a JSON object", "w");

    tu_assert_fails(ad_st_open("/nonexistent/x.safetensors", &st), AD_ERR_IO,
                    "/nonexistent/x.safetensors");
}
END_TEST

static void write_shard(const char *path, const char *const *names, int n, float base,
                        const char *meta)
{
    ad_st_writer *w;
    tu_assert_ok(ad_st_writer_create(&w));
    for (int i = 0; i < n; i++) {
        float v[2] = {base + (float)i, -(base + (float)i)};
        int64_t s = 2;
        tu_assert_ok(ad_st_writer_add_f32_as(w, names[i], AD_DT_F32, 1, &s, v));
    }
    if (meta)
        tu_assert_ok(ad_st_writer_set_metadata(w, "format", meta));
    tu_assert_ok(ad_st_writer_write(w, path));
    ad_st_writer_destroy(w);
}

START_TEST(sharded_folder)
{
    char dir[2048], p1[4096], p2[4096], idx[4096];
    tu_tmpdir(dir, sizeof dir, "shards");
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    static const char *const s1[] = {"enc.a", "enc.b"}, *const s2[] = {"dec.a", "enc.c"};
    write_shard(p1, s1, 2, 10, "pt");
    write_shard(p2, s2, 2, 20, "other");
    tu_write_text(idx, "{\"metadata\": {\"total_size\": 32}, \"weight_map\": {"
                       "\"enc.a\": \"model-00001-of-00002.safetensors\","
                       "\"enc.b\": \"model-00001-of-00002.safetensors\","
                       "\"dec.a\": \"model-00002-of-00002.safetensors\","
                       "\"enc.c\": \"model-00002-of-00002.safetensors\"}}");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(dir, &st));
    ck_assert_uint_eq(ad_st_count(st), 4);
    ck_assert_str_eq(ad_st_at(st, 0)->name, "dec.a");
    ck_assert_str_eq(ad_st_metadata(st, "format"), "pt");
    ck_assert_str_eq(ad_st_find(st, "enc.c")->file, p2);
    ck_assert_str_eq(ad_st_find(st, "enc.b")->file, p1);
    float v[2];
    int64_t s = 2;
    tu_assert_ok(ad_st_read_f32(st, "enc.c", 1, &s, v));
    ck_assert(v[0] == 21.0f && v[1] == -21.0f);
    tu_assert_ok(ad_st_read_f32(st, "enc.b", 1, &s, v));
    ck_assert(v[0] == 11.0f && v[1] == -11.0f);
    int64_t bad = 3;
    tu_assert_fails(ad_st_read_f32(st, "dec.a", 1, &bad, v), AD_ERR_FORMAT, p2);
    ad_st_close(st);

    /* the index names a tensor its shard does not hold */
    tu_write_text(idx, "{\"weight_map\": {\"enc.a\": \"model-00001-of-00002.safetensors\","
                       "\"enc.z\": \"model-00002-of-00002.safetensors\"}}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_FORMAT, "'enc.z'");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), idx));
    /* ... or in the other shard */
    tu_write_text(idx, "{\"weight_map\": {\"enc.a\": \"model-00002-of-00002.safetensors\","
                       "\"enc.c\": \"model-00002-of-00002.safetensors\"}}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_FORMAT, "'enc.a'");
    /* a missing shard */
    tu_write_text(idx, "{\"weight_map\": {\"enc.a\": \"model-00001-of-00002.safetensors\","
                       "\"enc.q\": \"model-00003-of-00003.safetensors\"}}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_IO, "model-00003-of-00003.safetensors");
    ck_assert_ptr_nonnull(strstr(ad_errmsg(), idx));
    assert_one_line();
    tu_write_text(idx, "{\"weight_map\": 3}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_FORMAT, "weight_map");
    tu_write_text(idx, "{\"weight_map\": {\"enc.a\": \"../x.safetensors\"}}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_FORMAT, "'enc.a'");
    /* a shard that is itself corrupt is named */
    tu_write_text(p2, "garbage!");
    tu_write_text(idx, "{\"weight_map\": {\"enc.a\": \"model-00001-of-00002.safetensors\","
                       "\"enc.c\": \"model-00002-of-00002.safetensors\"}}");
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_FORMAT, p2);
}
END_TEST

START_TEST(single_file_folder)
{
    char dir[2048], p[4096];
    tu_tmpdir(dir, sizeof dir, "folder");
    ad_safetensors *st;
    tu_assert_fails(ad_st_open(dir, &st), AD_ERR_IO, dir);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    static const char *const names[] = {"w"};
    write_shard(p, names, 1, 5, NULL);
    tu_assert_ok(ad_st_open(dir, &st));
    ck_assert_uint_eq(ad_st_count(st), 1);
    ck_assert_str_eq(ad_st_path(st), dir);
    ck_assert_str_eq(ad_st_at(st, 0)->file, p);
    ck_assert_ptr_null(ad_st_metadata(st, "format"));
    ad_st_close(st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, roundtrip_every_dtype);
    tcase_add_test(tc, hf_byte_layout);
    tcase_add_test(tc, half_to_float);
    tcase_add_test(tc, read_f32_conversions);
    tcase_add_test(tc, shape_mismatch_and_missing);
    tcase_add_test(tc, corrupt_files);
    tcase_add_test(tc, sharded_folder);
    tcase_add_test(tc, single_file_folder);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
