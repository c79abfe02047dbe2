/* safetensors element types: names, sizes and the half-precision conversions. */
#include "adaptor/safetensors.h"

#include "adaptor/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [AD_DT_F32] = {"F32", 4}, [AD_DT_F16] = {"F16", 2}, [AD_DT_BF16] = {"BF16", 2},
    [AD_DT_F64] = {"F64", 8}, [AD_DT_I64] = {"I64", 8}, [AD_DT_I32] = {"I32", 4},
    [AD_DT_I16] = {"I16", 2}, [AD_DT_I8] = {"I8", 1},   [AD_DT_U8] = {"U8", 1},
    [AD_DT_BOOL] = {"BOOL", 1},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

const char *ad_dtype_name(ad_dtype dt)
{
    return (unsigned)dt < NDTYPES ? dtypes[dt].name : "?";
}

size_t ad_dtype_size(ad_dtype dt)
{
    return (unsigned)dt < NDTYPES ? dtypes[dt].size : 0;
}

int ad_dtype_parse(const char *name, ad_dtype *out)
{
    for (size_t i = 0; i < NDTYPES; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (ad_dtype)i;
            return AD_OK;
        }
    return AD_ERR_FORMAT;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float ad_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        /* Zero or subnormal: mant * 2^-24 is exact in float32. */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* inf, or NaN with its payload kept */
        return from_bits(sign | 0x7f800000u | (mant << 13));
    return from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

float ad_bf16_to_f32(uint16_t h)
{
    return from_bits((uint32_t)h << 16);
}

uint16_t ad_f32_to_f16(float f)
{
    uint32_t x = to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: keep it quiet and keep the top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 = halfway between 65504 and 2^16: rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {
        /* Below 2^-14: the f16 result is subnormal, mant = |f| * 2^24 rounded. The scaling
         * is exact and nearbyintf rounds half to even in the default rounding mode; a
         * result of 1024 is the bit pattern of the smallest normal, as it should be. */
        float m = nearbyintf(ldexpf(from_bits(ax), 24));
        return (uint16_t)(sign | (uint16_t)m);
    }
    uint32_t r = ax - (112u << 23); /* rebias the exponent from 127 to 15 */
    uint32_t h = r >> 13, rem = r & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry out of the mantissa correctly bumps the exponent */
    return (uint16_t)(sign | h);
}

uint16_t ad_f32_to_bf16(float f)
{
    uint32_t x = to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: truncating could make it inf */
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

void ad_st_format_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t pos = 0;
    for (int i = 0; i <= ndim && pos < n; i++) {
        int w;
        if (i == ndim)
            w = snprintf(buf + pos, n - pos, "%s]", ndim ? "" : "[");
        else
            w = snprintf(buf + pos, n - pos, "%s%lld", i ? ", " : "[", (long long)shape[i]);
        if (w < 0)
            return;
        pos += (size_t)w;
    }
}
