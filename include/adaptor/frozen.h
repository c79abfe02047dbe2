/* The frozen encoders of a job file, run over manifest rows: shared by `adaptor embed`
 * (into caches) and `adaptor pretrain` with [train] source = online (every step). */
#ifndef ADAPTOR_FROZEN_H
#define ADAPTOR_FROZEN_H

#include "adaptor/bert.h"
#include "adaptor/cache.h"
#include "adaptor/config.h"
#include "adaptor/image.h"
#include "adaptor/image_encoder.h"
#include "adaptor/job.h"
#include "adaptor/manifest.h"
#include "adaptor/rng.h"
#include "adaptor/wordpiece.h"

#include <stdint.h>

/* Where an encoding job's time goes (this rank's seconds). wait: the encoder's time spent
 * waiting for the decode thread (decoding overlapped with the encoder, embed_prefetch.h). */
typedef struct ad_embed_timers {
    double read, prep, encode, io, wait;
} ad_embed_timers;

/* One batch of images decoded and preprocessed for the encoder: what ad_frozen_load fills
 * and ad_frozen_run encodes. */
typedef struct ad_frozen_batch {
    float *pixels;   /* [batch, 3, crop, crop]: the usable rows, packed */
    int *where;      /* [batch]: row i's place in pixels, -1 when it was skipped */
    int64_t *ids;    /* [batch]: sample ids, -(id + 1) when skipped */
    char **skipped;  /* [batch]: the warning of a skipped row (owned), or NULL */
    int n, good;
    ad_embed_timers tm; /* read and prep of the load */
} ad_frozen_batch;

/* One frozen encoder, either side: [image_encoder] or [text_encoder] of the job file. */
typedef struct ad_frozen {
    int image; /* 1: image side */
    int dim, tokens;
    /* text */
    ad_tokenizer *tok;
    ad_bert *bert;
    ad_bert_output bert_out;
    int max_words;
    int32_t *ids;
    int *lengths;
    /* image */
    ad_image_encoder *img;
    ad_image_output img_out;
    ad_pos_interp pos;
    ad_depth16 depth16;
    ad_prep_kind prep; /* the image encoder's preprocessing */
    int resize, crop;
    ad_frozen_batch stage;
    /* both */
    int batch;
    int overlap; /* [run] decode_overlap: embed decodes the next batch in a helper thread;
                  * cleared by the first prefetcher that cannot run one (embed_prefetch.h) */
    float *out; /* [batch, tokens or 1, dim] */
    uint8_t *mask;
    char meta_pre[512];
    ad_cache_meta meta;
    ad_cache_storage storage; /* how its caches are written ([cache] writer) */
} ad_frozen;

int ad_frozen_open(ad_frozen *e, const ad_config *cfg, const ad_job *job, int image,
                   const ad_provenance *prov);
void ad_frozen_free(ad_frozen *e);

/* Per-row inputs the encoder needs: image paths or MGCA captions. */
typedef struct ad_selection {
    int64_t n;
    int64_t *ids;
    const char **image; /* into the manifest */
    char **caption;     /* owned */
    int64_t *line;
    int64_t view_dropped; /* rows of the split whose view is not one of [data] views */
} ad_selection;

/* The rows of a split: the allowed views, and a report that MGCA keeps (SPEC 2). The same
 * on every rank and for every encoder. *dropped counts the reports MGCA dropped. */
int ad_select_rows(const ad_manifest *m, const char *split, ad_selection *s, int64_t *dropped);
void ad_selection_free(ad_selection *s);

/* Encodes the selection's rows rows[0..n) (n <= e->batch) into e->out / e->mask; ids[]
 * receives their sample ids. crop: random-crop stream for training-time augmentation, or
 * NULL for the centre crop. A row whose image cannot be used stops with its manifest line,
 * or with skip_bad gets a zero embedding and id -(id + 1), counted in *bad. */
int ad_frozen_encode(ad_frozen *e, const ad_selection *s, const int64_t *rows, int n,
                     int skip_bad, const char *manifest, ad_rng *crop, int64_t *ids,
                     int64_t *bad, ad_embed_timers *tm);

/* ad_frozen_encode of an image batch in two halves, so that the first can run in another
 * thread while the encoder works on the previous batch. ad_frozen_load decodes and
 * preprocesses rows[0..n) into b: it reads only e's fixed settings, writes only b, makes no
 * MPI call and logs nothing (a skipped row's warning waits in b->skipped). ad_frozen_run
 * then logs those warnings, counts them in *bad, copies b's ids into ids and encodes b into
 * e->out / e->mask, in the caller's thread. */
int ad_frozen_batch_create(const ad_frozen *e, ad_frozen_batch *b);
void ad_frozen_batch_free(ad_frozen_batch *b);
int ad_frozen_load(const ad_frozen *e, const ad_selection *s, const int64_t *rows, int n,
                   int skip_bad, const char *manifest, ad_rng *crop, ad_frozen_batch *b);
int ad_frozen_run(ad_frozen *e, ad_frozen_batch *b, int64_t *ids, int64_t *bad,
                  ad_embed_timers *tm);

/* What one encoded row is, for either side: dim features on tokens tokens (0: one pooled
 * vector). */
int ad_frozen_dim(const ad_frozen *e);
int ad_frozen_tokens(const ad_frozen *e);
/* FLOPs of encoding one row: an image at the crop size, or a report of max_words tokens
 * (the longest it can be), for plans. */
double ad_frozen_flops(const ad_frozen *e);

/* Encodes any number n of the selection's rows, in the encoder's batches, into out
 * [n, max(tokens, 1), dim] and (unless NULL) the token masks mask [n, max(tokens, 1)]. A
 * row that cannot be used stops with its manifest line (no skipping). */
int ad_frozen_encode_rows(ad_frozen *e, const ad_selection *s, const int64_t *rows, int64_t n,
                          const char *manifest, ad_rng *crop, float *out, uint8_t *mask);

#endif
