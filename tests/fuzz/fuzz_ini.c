/* INI job files (inih, the schema's type and range checks, [job] include, path
 * resolution). A file that loads must dump to text that loads back to the same values
 * (config.h: "Loading this text back gives the same configuration"), and every value
 * the loader accepted must be readable with its key's typed getter. The scratch folder
 * holds base.ini, so `[job] include = base.ini` is reachable. */
#include "adaptor/config.h"
#include "adaptor/error.h"
#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base_ini[] = "[train]\nlr = 1e-4\nepochs = 3\n[data]\nmanifest = m.csv\n";

static void typed_reads(const ad_config *cfg)
{
    for (const ad_cfg_key *k = ad_config_schema; k->section; k++) {
        if (!ad_config_is_set(cfg, k->section, k->key))
            continue;
        int64_t i;
        double f;
        int b;
        char **items;
        int n;
        switch (k->type) {
        case AD_CFG_INT:
            fz_assert(ad_config_int(cfg, k->section, k->key, &i) == AD_OK, "accepted int reads");
            break;
        case AD_CFG_FLOAT:
            fz_assert(ad_config_float(cfg, k->section, k->key, &f) == AD_OK,
                      "accepted number reads");
            break;
        case AD_CFG_BOOL:
            fz_assert(ad_config_bool(cfg, k->section, k->key, &b) == AD_OK,
                      "accepted boolean reads");
            break;
        case AD_CFG_LIST:
            /* An empty item is reported when the list is used. */
            if (ad_config_list(cfg, k->section, k->key, &items, &n) == AD_OK) {
                fz_assert(n >= 1, "a list has items");
                free(items);
            }
            break;
        default:
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], base[512], dump_path[512];
    fz_write("base.ini", base_ini, sizeof base_ini - 1, base, sizeof base);
    fz_write("job.ini", data, size, path, sizeof path);
    ad_config *cfg = NULL, *again = NULL;
    fz_assert(ad_config_create(&cfg) == AD_OK, "create");
    if (ad_config_load_file(cfg, path) != AD_OK) {
        fz_rejected();
        ad_config_destroy(cfg);
        return 0;
    }
    typed_reads(cfg);
    char *text = NULL;
    fz_assert(ad_config_dump(cfg, &text) == AD_OK, "dump");
    fz_write("dump.ini", text, strlen(text), dump_path, sizeof dump_path);
    fz_assert(ad_config_create(&again) == AD_OK, "create");
    if (ad_config_load_file(again, dump_path) != AD_OK) {
        /* Only a value that is itself too long for libinih's line buffer (a path made
         * absolute) may keep the dump from loading, and then with that message. */
        if (!strstr(ad_errmsg(), "line longer than")) {
            fprintf(stderr, "reloading the dump failed: %s\n", ad_errmsg());
            fz_assert(0, "the dump of a loaded configuration loads");
        }
        fz_rejected();
        free(text);
        ad_config_destroy(again);
        ad_config_destroy(cfg);
        return 0;
    }
    for (const ad_cfg_key *k = ad_config_schema; k->section; k++) {
        const char *a = ad_config_get(cfg, k->section, k->key);
        const char *b = ad_config_get(again, k->section, k->key);
        if (!((!a && !b) || (a && b && strcmp(a, b) == 0))) {
            fprintf(stderr, "[%s] %s: '%s' reloads as '%s'\n", k->section, k->key,
                    a ? a : "(unset)", b ? b : "(unset)");
            fz_assert(0, "the dump reloads to the same values");
        }
    }
    free(text);
    ad_config_destroy(again);
    ad_config_destroy(cfg);
    return 0;
}
