#include "adaptor/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ad_rng_seed(ad_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t k = splitmix64(&x) ^ (stream * 0xD1342543DE82EF95ull + 0x2545F4914F6CDD1Dull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&k);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(uint64_t *s)
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ad_rng_u64(ad_rng *r) { return next(r->s); }

void ad_rng_u64_fill(ad_rng *r, uint64_t *out, size_t n)
{
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]};
    for (size_t i = 0; i < n; i++)
        out[i] = next(s);
    for (int k = 0; k < 4; k++)
        r->s[k] = s[k];
}

float ad_rng_uniform(ad_rng *r) { return (float)(ad_rng_u64(r) >> 40) * 0x1.0p-24f; }

double ad_rng_uniform_d(ad_rng *r) { return (double)(ad_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t ad_rng_below(ad_rng *r, uint64_t n)
{
    /* Rejection keeps it unbiased for any n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = ad_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double ad_rng_normal(ad_rng *r)
{
    double u1 = 1.0 - ad_rng_uniform_d(r); /* (0, 1] */
    double u2 = ad_rng_uniform_d(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ad_rng_shuffle(ad_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ad_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
