#!/usr/bin/env bash
# tests/shell/test_layers.sh: the house rules of docs/architecture.md on the includes of src/
# and include/lemma/ (tests/py/check_layers.py), and that the checker catches each never-rule
# when a copy of the tree breaks it.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
/usr/bin/python3 tests/py/check_layers.py .

# Each never-rule broken in a copy of the tree: the checker must fail naming the file.
broken() { # NAME FILE HEADER
    local name=$1 file=$2 header=$3
    rm -rf "$TMP/tree" && mkdir -p "$TMP/tree"
    cp -r src include "$TMP/tree/"
    sed -i "0,/#include/s||#include \"lemma/$header.h\"\n#include|" "$TMP/tree/$file"
    expect_fail "layers_catch_$name" 1 "$file:[0-9]+: module" /usr/bin/python3 tests/py/check_layers.py "$TMP/tree"
}
broken backend_model src/backend/cpu/cpu_norm.c model
broken tasks_model src/tasks/answer.c model
broken tasks_backend src/tasks/verify.c backend
broken tok_model src/tok/tokenizer.c model
broken util_project src/util/rng.c config
broken lemma_model src/lemma/locate.c model
broken lemma_backend src/lemma/teacher_model.c backend
