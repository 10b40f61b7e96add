# tests/shell/test_docs.sh: the docs stay true: docs/config.md is exactly what
# 'lemma config --reference' prints (regenerate it with that command), and every config in
# configs/ is valid.
source "$(dirname "$0")/lib.sh"
if diff <("$LEMMA" config --reference) docs/config.md >"$TMP/diff"; then echo "PASS config_reference_doc"
else echo "FAIL config_reference_doc: docs/config.md is stale; run: build/lemma config --reference > docs/config.md"; head -5 "$TMP/diff"; fi
for cfg in configs/*.cfg configs/scaling/*.cfg; do
    check "valid_$(basename "$cfg" .cfg)" "$LEMMA" config "$cfg"
done
