/* The choices of a job file, parsed once.
 *
 * Every enumerated key of the schema ([adaptor] mode, [train] source, ...) becomes a typed
 * field here; a stage parses its configuration once with ad_job_parse at its start and
 * hands the struct to its steps, which test enums instead of re-reading strings. Numbers,
 * paths and lists stay with the ad_config getters. */
#ifndef ADAPTOR_JOB_H
#define ADAPTOR_JOB_H

#include "adaptor/bert.h"
#include "adaptor/config.h"
#include "adaptor/head.h"
#include "adaptor/image.h"
#include "adaptor/image_encoder.h"
#include "adaptor/label_fraction.h"
#include "adaptor/schedule.h"

typedef enum { AD_SOURCE_CACHE, AD_SOURCE_ONLINE } ad_train_source;
typedef enum { AD_AUGMENT_NONE, AD_AUGMENT_RANDOM_CROP } ad_augment;
typedef enum { AD_NEGATIVES_GLOBAL, AD_NEGATIVES_LOCAL } ad_negatives;
typedef enum { AD_SHUFFLE_ONCE, AD_SHUFFLE_EPOCH, AD_SHUFFLE_NONE } ad_shuffle;
typedef enum { AD_SEG_ROWS_POSITIVE, AD_SEG_ROWS_ALL } ad_seg_rows;
typedef enum { AD_SEG_FEATURES_ADAPTOR, AD_SEG_FEATURES_ENCODER } ad_seg_features;

typedef struct ad_job {
    ad_depth16 depth16;           /* [data] depth16 */
    ad_bert_output pooling;       /* [text_encoder] pooling */
    ad_image_arch arch;           /* [image_encoder] arch */
    ad_pos_interp pos_interp;     /* [image_encoder] pos_interp, "auto" resolved */
    ad_image_output image_output; /* [image_encoder] output */
    ad_precision text_precision;  /* [text_encoder] precision */
    ad_precision image_precision; /* [image_encoder] precision */
    int cache_parallel;           /* [cache] writer: 0 serial, 1 parallel */
    int tokens;                   /* [adaptor] mode: 0 pooled, 1 tokens */
    ad_train_source source;       /* [train] */
    ad_augment augment;
    ad_sched_kind schedule;
    ad_negatives negatives;
    ad_shuffle shuffle;
    ad_seg_rows seg_rows;         /* [segment] rows */
    ad_seg_features seg_features; /* [segment] features */
    ad_cls_task task;             /* [classify] task */
    int probe;                    /* [classify] head = probe (head_kind unused) */
    ad_head_kind head_kind;       /* [classify] head = linear | mlp */
} ad_job;

/* Parses every choice of cfg; an unknown word names the file, section and key. */
int ad_job_parse(const ad_config *cfg, ad_job *job);

#endif
