// config: the configuration schema (single source of truth for keys, types, defaults,
// ranges and help), libconfig loading with validation, --set overrides, and the dump.
#ifndef LEMMA_CONFIG_H
#define LEMMA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CFG_INT,    // 64-bit integer, range [min, max]
    CFG_FLOAT,  // double, range [min, max]; an integer literal is accepted
    CFG_BOOL,   // true / false
    CFG_STRING, // free text
    CFG_ENUM,   // one of the '|'-separated words in choices
    CFG_LIST,   // list of strings; when choices is set every item must be one of them
} CfgType;

typedef struct {
    const char *key;     // "section.name"
    CfgType type;
    const char *def;     // default, written as on the --set command line ("3e-4", "a,b", "true")
    double min, max;     // inclusive range for CFG_INT / CFG_FLOAT
    const char *choices; // "auto|cpu|cuda" for CFG_ENUM / CFG_LIST, else NULL
    const char *help;    // one line
} CfgEntry;

extern const CfgEntry cfg_schema[];
extern const int cfg_schema_len;

typedef struct {
    int64_t i;
    double f;
    int b;
    char *s;      // CFG_STRING, CFG_ENUM
    char **items; // CFG_LIST
    int n_items;
    int line;     // line in the file where it was set (0: default, -1: --set)
} CfgValue;

typedef struct {
    char *path;      // the file loaded
    char *text;      // its contents, verbatim (stored in checkpoints)
    CfgValue *vals;  // one per schema entry, same order
} Config;

// Loads path, applies the --set overrides ("key=value"), fills defaults, validates.
// Returns 0 on success. On a user error returns 2 and writes one message to err, naming
// the file, line and key (and the closest known key for an unknown one).
int config_load(Config *c, const char *path, char *const *sets, int n_sets, char *err,
                size_t err_len);
// The same from a config text (e.g. the one stored in a checkpoint); name stands for the file
// in messages.
int config_load_text(Config *c, const char *name, const char *text, char *const *sets,
                     int n_sets, char *err, size_t err_len);
// A config with every default (for tests and tools).
void config_defaults(Config *c);
// Applies one "key=value" override to a loaded config; 0 or 2 with err filled.
int config_set(Config *c, const char *assignment, char *err, size_t err_len);
void config_free(Config *c);

// Accessors: the key must be in the schema with that type (else a fatal programming error).
int64_t cfg_int(const Config *c, const char *key);
double cfg_float(const Config *c, const char *key);
int cfg_bool(const Config *c, const char *key);
const char *cfg_str(const Config *c, const char *key); // CFG_STRING and CFG_ENUM
int cfg_list_len(const Config *c, const char *key);
const char *cfg_list_item(const Config *c, const char *key, int i);
int cfg_list_has(const Config *c, const char *key, const char *item);

// The effective configuration in libconfig syntax, every key, help as comments.
void config_dump(const Config *c, FILE *f);
// The same as a malloc'd string: what checkpoints store, so that a checkpoint reopens with
// the --set overrides it was trained with.
char *config_dump_text(const Config *c);
// The schema as a Markdown table (docs/config.md is generated from it).
void config_reference(FILE *f);
// `lemma config CONFIG [--dump]` (config/cmd.c): 0, or 2 for an unknown option.
int config_cmd(const Config *cfg, const char *input, int argc, char **argv);

// Closest schema key to an unknown one (Levenshtein), or NULL if nothing is close.
const char *config_suggest(const char *key);

#ifdef __cplusplus
}
#endif
#endif
