/* What one core can do at best, per instruction family, measured in the same run as the
 * GEMMs that use it: the ceiling on bf16's speed-up over fp32 on this CPU.
 *
 * A bf16 encoder can beat fp32 only if the CPU's bf16 dot product (AVX512_BF16's
 * VDPBF16PS, or AMX) retires more multiply-adds per second than the fp32 FMA does. That
 * ratio is a property of the core, not of any library, so it is measured directly: 24
 * independent accumulator chains per instruction (more than latency x throughput on any
 * x86 core), in registers, no memory traffic. Then BLIS's sgemm and oneDNN's bf16 matmul
 * (the path `precision = bf16` takes) on a ViT-B/14 MLP shape show how close each library
 * comes to its instruction's peak.
 *
 * usage: bench_peak [REPS]       (one thread; medians of REPS, default 5) */
#include "adaptor/blis_select.h"
#include "adaptor/error.h"
#include "adaptor/gemm_bf16.h"
#include "benchutil.h"

#include <blis.h>
#include <immintrin.h>
#include <stdint.h>

#define CHAINS 24
#define ITERS 4000000L
/* Spelled out: a loop over an array of accumulators may be kept in memory, and then the
 * loads and stores, not the arithmetic, are measured. */
#define CHAINS24(op) \
    op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11) op(12) op(13) \
        op(14) op(15) op(16) op(17) op(18) op(19) op(20) op(21) op(22) op(23)

/* The kernels are compiled for their ISA only and called after the CPU said it has it. */
__attribute__((target("avx512f"))) static void keep_live(const __m512 *acc)
{
    float s = 0;
    for (int i = 0; i < CHAINS; i++)
        s += _mm512_reduce_add_ps(acc[i]);
    if (s < 0) /* never true: the sums keep the chains from being optimised away */
        printf("%g\n", s);
}

__attribute__((target("avx512f"))) static double fma_fp32_zmm(void)
{
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_setzero_ps();
    __m512 x = _mm512_set1_ps(1e-9f), y = _mm512_set1_ps(1.0f);
    double t = bu_thread_cpu_now();
#define FMA(i) acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
    for (long n = 0; n < ITERS; n++) {
        CHAINS24(FMA)
    }
    t = bu_thread_cpu_now() - t;
    keep_live(acc);
    return (double)ITERS * CHAINS * 16 * 2 / t / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) static double dot_bf16_zmm(void)
{
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_setzero_ps();
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3000);
    double t = bu_thread_cpu_now();
#define DOT(i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    for (long n = 0; n < ITERS; n++) {
        CHAINS24(DOT)
    }
    t = bu_thread_cpu_now() - t;
    keep_live(acc);
    /* 16 lanes, each a sum of two products: 64 flops per instruction. */
    return (double)ITERS * CHAINS * 16 * 4 / t / 1e9;
}

static double median_of(double (*f)(void), int reps)
{
    double v[64];
    for (int r = 0; r < reps; r++)
        v[r] = f();
    return bu_median(v, reps);
}

/* The ViT-B/14 MLP's first product for a batch of 8 images: [8 x 257, 768] x [768, 3072]. */
enum { GM = 2056, GK = 768, GN = 3072 };

static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(((i + seed) * 2654435761u) % 1000u) * 1e-3f - 0.5f;
}

static int gemm_rates(int reps, double *sgemm, double *bf16)
{
    float *x = malloc(sizeof(float) * ((size_t)GM * GK + (size_t)GN * GK + (size_t)GM * GN));
    if (!x)
        return ad_fail(AD_ERR_NOMEM, "bench_peak: out of memory");
    float *w = x + (size_t)GM * GK, *y = w + (size_t)GN * GK;
    fill(x, (size_t)GM * GK, 1);
    fill(w, (size_t)GN * GK, 2);
    const double flops = 2.0 * GM * GN * GK;
    double v[64];
    float one = 1, zero = 0;
    for (int r = 0; r < reps; r++) {
        double t = bu_thread_cpu_now();
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, GM, GN, GK, &one, x, GK, 1, w, GK, 1, &zero,
                  y, GN, 1);
        v[r] = flops / (bu_thread_cpu_now() - t) / 1e9;
    }
    *sgemm = bu_median(v, reps);
    *bf16 = 0;
    int st = AD_OK;
    if (ad_bf16_supported(NULL)) {
        ad_bf16_gemm *g = NULL;
        st = ad_bf16_gemm_create(&g);
        /* The first call converts and packs the weight (once per process in a real run). */
        if (st == AD_OK)
            st = ad_bf16_linear_forward(g, y, GN, x, GK, w, NULL, GM, GK, GN);
        for (int r = 0; st == AD_OK && r < reps; r++) {
            double t = bu_thread_cpu_now();
            st = ad_bf16_linear_forward(g, y, GN, x, GK, w, NULL, GM, GK, GN);
            v[r] = flops / (bu_thread_cpu_now() - t) / 1e9;
        }
        if (st == AD_OK)
            *bf16 = bu_median(v, reps);
        ad_bf16_gemm_destroy(g);
    }
    free(x);
    return st;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 64) {
        fprintf(stderr, "bench_peak: REPS must be 1..64\n");
        return 2;
    }
    if (bu_single_start("bench_peak") != 0)
        return 1;
    printf("one thread, medians of %d\n", reps);

    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512 on this CPU: nothing to compare\n");
        return 0;
    }
    double fma = median_of(fma_fp32_zmm, reps);
    printf("fp32 FMA (VFMADD231PS zmm) peak:     %7.1f GFLOP/s\n", fma);
    double dot = 0;
    if (__builtin_cpu_supports("avx512bf16")) {
        dot = median_of(dot_bf16_zmm, reps);
        printf("bf16 dot (VDPBF16PS zmm) peak:       %7.1f GFLOP/s   %.2fx the fp32 FMA peak\n",
               dot, dot / fma);
    } else {
        printf("bf16 dot (VDPBF16PS): the CPU has no AVX512_BF16\n");
    }
    const char *isa = "?";
    ad_bf16_supported(&isa);
    printf("oneDNN's effective ISA: %s%s\n", isa,
           strstr(isa, "AMX") ? "" : " (no AMX: bf16 cannot outrun fp32 beyond the ratio above)");

    double sg = 0, bf = 0;
    if (gemm_rates(reps, &sg, &bf) != AD_OK) {
        fprintf(stderr, "%s\n", ad_errmsg());
        return 1;
    }
    printf("[%d x %d] x [%d x %d]:\n", GM, GK, GK, GN);
    printf("  BLIS sgemm           %7.1f GFLOP/s   %3.0f%% of the fp32 FMA peak\n", sg,
           100 * sg / fma);
    if (bf > 0)
        printf("  oneDNN bf16 matmul   %7.1f GFLOP/s   %3.0f%% of the bf16 dot peak, %.2fx sgemm\n",
               bf, dot > 0 ? 100 * bf / dot : 0, bf / sg);
    else
        printf("  oneDNN bf16 matmul   not run (no native bf16 on this CPU)\n");
    if (dot > 0)
        printf("ceiling from the instructions alone: a bf16 GEMM at 100%% of the VDPBF16PS peak "
               "would run at %.2fx this sgemm (%.2fx the fp32 FMA peak); AMX, where present and "
               "enabled, is not measured here\n",
               dot / sg, dot / fma);
    return 0;
}
