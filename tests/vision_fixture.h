/* Inputs and expectations shared by the image-encoder tests: tests/ref/vision_ref.py writes
 * models and expected outputs into $ADAPTOR_TEST_TMP/vision_ref; input images follow an
 * integer formula both sides evaluate exactly in float32. */
#ifndef ADAPTOR_TESTS_VISION_FIXTURE_H
#define ADAPTOR_TESTS_VISION_FIXTURE_H

#include "testutil.h"

#include "adaptor/error.h"
#include "adaptor/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void vf_path(char *out, size_t n, const char *rel)
{
    const char *tmp = getenv("ADAPTOR_TEST_TMP");
    snprintf(out, n, "%s/vision_ref/%s", tmp ? tmp : "/tmp", rel);
}

/* x[b][c][y][x], as images() in vision_ref.py. */
static inline float *vf_images(int batch, int h, int w)
{
    float *x = malloc(sizeof(float) * (size_t)batch * 3 * h * w);
    ck_assert_ptr_nonnull(x);
    for (int b = 0; b < batch; b++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < h; y++)
                for (int i = 0; i < w; i++) {
                    long v = ((long)b * 7919 + (long)c * 104729 + (long)y * y * 3 + y * 31 +
                              i * 17 + (i * y) % 13) % 255;
                    x[(((size_t)b * 3 + c) * h + y) * w + i] = (float)v / 127.5f - 1.0f;
                }
    return x;
}

/* The expected tensor `name` (malloc'ed), with its element count. */
static inline float *vf_expected(const char *name, size_t *count)
{
    char p[4096];
    vf_path(p, sizeof p, "expected.safetensors");
    ad_safetensors *st;
    tu_assert_ok(ad_st_open(p, &st));
    const ad_st_tensor *t = ad_st_find(st, name);
    ck_assert_msg(t != NULL, "expected.safetensors has no '%s'", name);
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    ck_assert_ptr_nonnull(v);
    tu_assert_ok(ad_st_read_f32(st, name, t->ndim, t->shape, v));
    *count = (size_t)t->numel;
    ad_st_close(st);
    return v;
}

#endif
