/* JSON files (config.json, tokenizer files, sharded-checkpoint indexes) read with cJSON. */
#ifndef ADAPTOR_JSON_H
#define ADAPTOR_JSON_H

#include <cjson/cJSON.h>

/* Reads `path`, which must hold a JSON object; *out is freed with cJSON_Delete. Errors name
 * the file (and the byte where parsing stopped). */
int ad_json_read_object(const char *path, cJSON **out);

/* Reads the JSON object at path and hands it to parse(root, path, out), which fills out;
 * the tree is freed after. (HuggingFace config.json files.) */
int ad_json_load(const char *path, int (*parse)(const cJSON *root, const char *path, void *out),
                 void *out);

/* Keys of a config.json object (path: the file, for messages). A key that is absent or null
 * takes the fallback, or is an error when required. */
/* An integer in lo..hi. */
int ad_json_int(const cJSON *root, const char *path, const char *key, int required, int fallback,
                int lo, int hi, int *out);
/* true / false. */
int ad_json_bool(const cJSON *root, const char *path, const char *key, int fallback, int *out);
/* A number in (0, hi] (an epsilon, a ratio). */
int ad_json_positive(const cJSON *root, const char *path, const char *key, double fallback,
                     double hi, double *out);

#endif
