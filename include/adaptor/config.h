/* Job files: INI sections and keys (SPEC section 9) with typed values, defaults, and
 * `--set section.key=value` overrides.
 *
 * The schema (src/core/config_schema.c) is the single list of keys: loading rejects any
 * key it does not name, every value is type-checked when it is set, and `adaptor keys`
 * prints the reference from it. Relative paths in a job file are resolved against the job
 * file's folder (so a job file works from any working directory); relative paths given with
 * --set are resolved against the working directory.
 *
 * A job file may start with `[job] include = OTHER.ini` (relative to its own folder): the
 * other file is read first and every key after the include overrides it, so a family of
 * runs shares one base file. */
#ifndef ADAPTOR_CONFIG_H
#define ADAPTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    AD_CFG_STRING,
    AD_CFG_INT,
    AD_CFG_FLOAT,
    AD_CFG_BOOL,
    AD_CFG_ENUM,  /* one of `choices` ("a|b|c") */
    AD_CFG_LIST,  /* comma-separated strings */
    AD_CFG_PATH   /* a file or folder */
} ad_cfg_type;

typedef struct ad_cfg_key {
    const char *section;
    const char *key;
    ad_cfg_type type;
    const char *def;     /* default value; NULL when the key has none (optional or required) */
    const char *choices; /* AD_CFG_ENUM: "a|b|c"; AD_CFG_INT/FLOAT: optional "min|max" */
    const char *doc;
} ad_cfg_key;

/* The schema table, terminated by an entry with section == NULL. */
extern const ad_cfg_key ad_config_schema[];

typedef struct ad_config ad_config;

int ad_config_create(ad_config **cfg);
void ad_config_destroy(ad_config *cfg);

/* Reads a job file over the defaults. Errors name the file and line. */
int ad_config_load_file(ad_config *cfg, const char *path);
/* Reads job-file text (a stored dump such as a checkpoint's configuration) over the
 * defaults; `label` names it in messages, relative paths resolve against the working
 * directory. Includes are not followed relative to anything but that folder. */
int ad_config_load_text(ad_config *cfg, const char *text, const char *label);
/* 1 when both configurations give [section] key the same value (both unset, equal numbers
 * for numeric keys however spelt, equal text otherwise). */
int ad_config_same(const ad_config *a, const ad_config *b, const char *section, const char *key);
/* Applies "section.key=value" (from --set). */
int ad_config_set_override(ad_config *cfg, const char *assignment);
/* Sets one key (origin names where the value came from, for messages and the dump). */
int ad_config_set(ad_config *cfg, const char *section, const char *key, const char *value,
                  const char *origin);

/* Fails with "<job file>: missing required key [section] key" when the key has no value. */
int ad_config_require(const ad_config *cfg, const char *section, const char *key);

/* The value as a string, or NULL when unset. */
const char *ad_config_get(const ad_config *cfg, const char *section, const char *key);
int ad_config_is_set(const ad_config *cfg, const char *section, const char *key);
/* Typed getters fail (naming the key) when the key is unset. */
int ad_config_int(const ad_config *cfg, const char *section, const char *key, int64_t *out);
int ad_config_float(const ad_config *cfg, const char *section, const char *key, double *out);
int ad_config_bool(const ad_config *cfg, const char *section, const char *key, int *out);
int ad_config_string(const ad_config *cfg, const char *section, const char *key,
                     const char **out);
/* Splits a list value; *items is one allocation (free(*items) frees all). */
int ad_config_list(const ad_config *cfg, const char *section, const char *key, char ***items,
                   int *count);

/* Where the configuration came from ("jobs/demo.ini" or "(defaults)"). */
const char *ad_config_source(const ad_config *cfg);
/* Where one key's value came from, for messages about it: "job.ini:12", "--set train.lr",
 * or the job file (ad_config_source) for a default. */
const char *ad_config_where(const ad_config *cfg, const char *section, const char *key);

/* The effective configuration as INI text (every key, unset optional keys commented out),
 * caller frees. Loading this text back gives the same configuration. */
int ad_config_dump(const ad_config *cfg, char **text);
/* Writes the dump to <dir>/config.ini atomically. */
int ad_config_write(const ad_config *cfg, const char *dir);

/* Prints the job-file reference (sections, keys, types, defaults, docs). */
void ad_config_print_reference(FILE *fp);

#endif
