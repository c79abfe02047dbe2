#include "adaptor/gemm_bf16.h"

#include "adaptor/error.h"

#include <oneapi/dnnl/dnnl.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* A weight as the primitives want it: bf16, in the (blocked) layout the matmul asked for. */
typedef struct {
    const float *src; /* caller's fp32 [out, in]: the key */
    int in, out;
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
} packed_weight;

/* One matmul per shape.  Rows vary from call to call (BERT packs real tokens), so the
 * cache is a small ring: a miss costs one primitive creation, which oneDNN's own
 * primitive cache makes cheap. */
typedef struct {
    int n, in, ldx, out, ldy, bias;
    dnnl_primitive_desc_t pd, cvt_pd;
    dnnl_primitive_t prim, cvt; /* the matmul; the fp32 -> bf16 reorder of its input */
    dnnl_memory_desc_t x_md;    /* the caller's fp32 rows */
} shape_entry;

enum { SHAPE_SLOTS = 32 };

struct ad_bf16_gemm {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    packed_weight *w;
    int nw, capw;
    shape_entry shape[SHAPE_SLOTS];
    int next_slot;
    dnnl_memory_t xs; /* bf16 copy of the input rows */
    size_t xs_cap;
    long packs;
};

static int dnnl_ok(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success)
        return AD_OK;
    if (s == dnnl_out_of_memory)
        return ad_fail(AD_ERR_NOMEM, "oneDNN: out of memory in %s", what);
    return ad_fail(AD_ERR_INTERNAL, "oneDNN: %s failed (status %d)", what, (int)s);
}

int ad_precision_parse(const char *name, ad_precision *out)
{
    if (strcmp(name, "fp32") == 0)
        *out = AD_PREC_FP32;
    else if (strcmp(name, "bf16") == 0)
        *out = AD_PREC_BF16;
    else
        return ad_fail(AD_ERR_ARG, "precision '%s' is not one of fp32, bf16", name);
    return AD_OK;
}

const char *ad_precision_name(ad_precision p) { return p == AD_PREC_BF16 ? "bf16" : "fp32"; }

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "SSE41";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2_VNNI";
    case dnnl_cpu_isa_avx512_mic: return "AVX512_MIC";
    case dnnl_cpu_isa_avx512_mic_4ops: return "AVX512_MIC_4OPS";
    case dnnl_cpu_isa_avx512_core: return "AVX512_CORE";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX512_CORE_VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX512_CORE_BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX512_CORE_AMX";
    default: return "unknown";
    }
}

int ad_bf16_supported(const char **isa)
{
    dnnl_cpu_isa_t e = dnnl_get_effective_cpu_isa();
    if (isa)
        *isa = isa_name(e);
    /* The ISA values are nested bit sets: AMX includes AVX512_CORE_BF16's bits. */
    return ((unsigned)e & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

int ad_bf16_gemm_create(ad_bf16_gemm **out)
{
    *out = NULL;
    const char *isa;
    if (!ad_bf16_supported(&isa)) {
        ad_fail(AD_ERR_UNSUPPORTED, "precision = bf16 needs a CPU with AVX512_BF16 or AMX "
                "instructions; this one (oneDNN ISA %s) has none", isa);
        return ad_set_hint(AD_ERR_UNSUPPORTED, "use precision = fp32 (the default)");
    }
    ad_bf16_gemm *g = ad_calloc(1, sizeof *g, "bf16 GEMM context");
    if (!g)
        return AD_ERR_NOMEM;
    int rc = dnnl_ok(dnnl_engine_create(&g->engine, dnnl_cpu, 0), "engine creation");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_stream_create(&g->stream, g->engine, dnnl_stream_default_flags),
                     "stream creation");
    if (rc != AD_OK) {
        ad_bf16_gemm_destroy(g);
        return rc;
    }
    *out = g;
    return AD_OK;
}

static void drop_shape(shape_entry *e)
{
    dnnl_primitive_destroy(e->prim);
    dnnl_primitive_desc_destroy(e->pd);
    dnnl_primitive_destroy(e->cvt);
    dnnl_primitive_desc_destroy(e->cvt_pd);
    memset(e, 0, sizeof *e);
}

void ad_bf16_gemm_destroy(ad_bf16_gemm *g)
{
    if (!g)
        return;
    for (int i = 0; i < SHAPE_SLOTS; i++)
        drop_shape(&g->shape[i]);
    for (int i = 0; i < g->nw; i++)
        dnnl_memory_destroy(g->w[i].mem);
    free(g->w);
    dnnl_memory_destroy(g->xs);
    if (g->stream)
        dnnl_stream_destroy(g->stream);
    if (g->engine)
        dnnl_engine_destroy(g->engine);
    free(g);
}

void ad_bf16_set_threads(int n)
{
    /* Debian's oneDNN runs on OpenMP (libgomp, loaded with it): its parallel regions use
     * omp_get_max_threads().  Looked up at run time so that adaptor links no OpenMP
     * itself (the clang fuzz build has no omp.h). */
    void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set)
        set(n > 0 ? n : 1);
}

long ad_bf16_gemm_packs(const ad_bf16_gemm *g) { return g->packs; }

static int make_shape(ad_bf16_gemm *g, shape_entry *e)
{
    dnnl_memory_desc_t src, wei, bmd, dst;
    dnnl_dims_t sd = {e->n, e->in}, wd = {e->in, e->out}, bd = {1, e->out}, dd = {e->n, e->out};
    dnnl_dims_t x_strides = {e->ldx, 1}, dst_strides = {e->ldy, 1};
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_tag(&src, 2, sd, dnnl_bf16, dnnl_ab), "src desc"));
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_strides(&e->x_md, 2, sd, dnnl_f32, x_strides),
                   "input desc"));
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_tag(&wei, 2, wd, dnnl_bf16, dnnl_format_tag_any),
                   "weights desc"));
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_tag(&bmd, 2, bd, dnnl_f32, dnnl_ab), "bias desc"));
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, dst_strides),
                   "dst desc"));
    dnnl_matmul_desc_t md;
    AD_TRY(dnnl_ok(dnnl_matmul_desc_init(&md, &src, &wei, e->bias ? &bmd : NULL, &dst),
                   "matmul desc"));
    AD_TRY(dnnl_ok(dnnl_primitive_desc_create(&e->pd, &md, NULL, g->engine, NULL),
                   "bf16 matmul primitive descriptor"));
    AD_TRY(dnnl_ok(dnnl_primitive_create(&e->prim, e->pd), "bf16 matmul primitive"));
    AD_TRY(dnnl_ok(dnnl_reorder_primitive_desc_create(&e->cvt_pd, &e->x_md, g->engine, &src,
                                                      g->engine, NULL),
                   "input conversion descriptor"));
    return dnnl_ok(dnnl_primitive_create(&e->cvt, e->cvt_pd), "input conversion");
}

static int get_shape(ad_bf16_gemm *g, int n, int in, int ldx, int out, int ldy, int bias,
                     shape_entry **se)
{
    for (int i = 0; i < SHAPE_SLOTS; i++) {
        shape_entry *e = &g->shape[i];
        if (e->cvt && e->n == n && e->in == in && e->ldx == ldx && e->out == out &&
            e->ldy == ldy && e->bias == bias) {
            *se = e;
            return AD_OK;
        }
    }
    shape_entry *e = &g->shape[g->next_slot];
    g->next_slot = (g->next_slot + 1) % SHAPE_SLOTS;
    drop_shape(e);
    e->n = n, e->in = in, e->ldx = ldx, e->out = out, e->ldy = ldy, e->bias = bias;
    int rc = make_shape(g, e);
    if (rc != AD_OK) {
        drop_shape(e);
        return rc;
    }
    *se = e;
    return AD_OK;
}

/* fp32 W[out, in] seen as B = W^T [in, out] (strides 1, in), reordered into want. */
static int pack(ad_bf16_gemm *g, packed_weight *p, const dnnl_memory_desc_t *want)
{
    dnnl_memory_desc_t plain;
    dnnl_dims_t dims = {p->in, p->out}, strides = {1, p->in};
    AD_TRY(dnnl_ok(dnnl_memory_desc_init_by_strides(&plain, 2, dims, dnnl_f32, strides),
                   "weights source desc"));
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    int rc = dnnl_ok(dnnl_memory_create(&from, &plain, g->engine, (void *)p->src),
                     "weights source memory");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_memory_create(&to, want, g->engine, DNNL_MEMORY_ALLOCATE),
                     "packed weights memory");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_reorder_primitive_desc_create(&rpd, &plain, g->engine, want,
                                                        g->engine, NULL),
                     "weights reorder descriptor");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_primitive_create(&r, rpd), "weights reorder");
    if (rc == AD_OK) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
        rc = dnnl_ok(dnnl_primitive_execute(r, g->stream, 2, args), "weights reorder run");
    }
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_stream_wait(g->stream), "weights reorder wait");
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(from);
    if (rc != AD_OK) {
        dnnl_memory_destroy(to);
        return rc;
    }
    dnnl_memory_destroy(p->mem);
    p->mem = to;
    p->md = *want;
    g->packs++;
    return AD_OK;
}

static int get_weight(ad_bf16_gemm *g, const float *w, int in, int out,
                      const dnnl_memory_desc_t *want, packed_weight **pw)
{
    packed_weight *p = NULL;
    for (int i = 0; i < g->nw && !p; i++)
        if (g->w[i].src == w)
            p = &g->w[i];
    if (p && (p->in != in || p->out != out))
        return ad_fail(AD_ERR_INTERNAL, "bf16 GEMM: weight used as [%d, %d] and [%d, %d]",
                       p->out, p->in, out, in);
    if (!p) {
        if (g->nw == g->capw) {
            int cap = g->capw ? 2 * g->capw : 64;
            packed_weight *nw = realloc(g->w, (size_t)cap * sizeof *nw);
            if (!nw)
                return ad_fail(AD_ERR_NOMEM, "out of memory for the bf16 weight table");
            g->w = nw;
            g->capw = cap;
        }
        p = &g->w[g->nw++];
        memset(p, 0, sizeof *p);
        p->src = w, p->in = in, p->out = out;
    }
    if (!p->mem || !dnnl_memory_desc_equal(&p->md, want))
        AD_TRY(pack(g, p, want));
    *pw = p;
    return AD_OK;
}

/* The bf16 input buffer, grown on demand and shared by every shape. */
static int reserve_input(ad_bf16_gemm *g, const dnnl_memory_desc_t *smd)
{
    size_t need = dnnl_memory_desc_get_size(smd);
    if (need > g->xs_cap) {
        dnnl_memory_destroy(g->xs);
        g->xs = NULL;
        g->xs_cap = 0;
        AD_TRY(dnnl_ok(dnnl_memory_create(&g->xs, smd, g->engine, DNNL_MEMORY_ALLOCATE),
                       "bf16 input memory"));
        g->xs_cap = need;
    }
    return AD_OK;
}

int ad_bf16_linear_forward(ad_bf16_gemm *g, float *y, int ldy, const float *x, int ldx,
                           const float *w, const float *b, int n, int in, int out)
{
    if (n <= 0)
        return AD_OK;
    shape_entry *se;
    AD_TRY(get_shape(g, n, in, ldx, out, ldy, b != NULL, &se));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(se->pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(se->pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(se->pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(se->pd, dnnl_query_weights_md, 1);
    packed_weight *pw = NULL;
    AD_TRY(get_weight(g, w, in, out, wmd, &pw));
    AD_TRY(reserve_input(g, smd));
    void *xs_data = NULL;
    AD_TRY(dnnl_ok(dnnl_memory_get_data_handle(g->xs, &xs_data), "bf16 input handle"));
    dnnl_memory_t mx = NULL, ms = NULL, md = NULL, mb = NULL;
    int rc = dnnl_ok(dnnl_memory_create(&mx, &se->x_md, g->engine, (void *)x), "input memory");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_memory_create(&ms, smd, g->engine, xs_data), "src memory");
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_memory_create(&md, dmd, g->engine, y), "dst memory");
    if (rc == AD_OK && b)
        rc = dnnl_ok(dnnl_memory_create(&mb, bmd, g->engine, (void *)b), "bias memory");
    if (rc == AD_OK) {
        dnnl_exec_arg_t cargs[2] = {{DNNL_ARG_FROM, mx}, {DNNL_ARG_TO, ms}};
        rc = dnnl_ok(dnnl_primitive_execute(se->cvt, g->stream, 2, cargs), "input conversion");
    }
    if (rc == AD_OK) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, pw->mem},
                                   {DNNL_ARG_DST, md}, {DNNL_ARG_BIAS, mb}};
        rc = dnnl_ok(dnnl_primitive_execute(se->prim, g->stream, b ? 4 : 3, args),
                     "bf16 matmul");
    }
    if (rc == AD_OK)
        rc = dnnl_ok(dnnl_stream_wait(g->stream), "bf16 matmul wait");
    dnnl_memory_destroy(mx);
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(md);
    dnnl_memory_destroy(mb);
    return rc;
}
