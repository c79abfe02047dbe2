/* JSON files (config.json, tokenizer files, sharded-checkpoint indexes) read with cJSON. */
#ifndef ADAPTOR_JSON_H
#define ADAPTOR_JSON_H

#include <cjson/cJSON.h>

/* Reads `path`, which must hold a JSON object; *out is freed with cJSON_Delete. Errors name
 * the file (and the byte where parsing stopped). */
int ad_json_read_object(const char *path, cJSON **out);

#endif
