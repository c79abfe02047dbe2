/* Deterministic random numbers: xoshiro256** streams keyed by (seed, stream id).
 *
 * A stream id mixes whatever must make the stream unique (rank, step, row index), so a
 * result never depends on how many ranks produced it or in what order. */
#ifndef ADAPTOR_RNG_H
#define ADAPTOR_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct ad_rng {
    uint64_t s[4];
} ad_rng;

void ad_rng_seed(ad_rng *r, uint64_t seed, uint64_t stream);
uint64_t ad_rng_u64(ad_rng *r);
/* out[i] = the next n values of ad_rng_u64, without a call per value (hot loops). */
void ad_rng_u64_fill(ad_rng *r, uint64_t *out, size_t n);
/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float ad_rng_uniform(ad_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ad_rng_uniform_d(ad_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t ad_rng_below(ad_rng *r, uint64_t n);
/* Standard normal (Box-Muller, double precision). */
double ad_rng_normal(ad_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void ad_rng_shuffle(ad_rng *r, int64_t *idx, int64_t n);

#endif
