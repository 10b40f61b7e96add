# tests/shell/test_cli.sh: the command line: help, version, usage errors (exit 2),
# config validation errors naming file, line and key, --set, and the dump printed once by
# rank 0 under mpirun.
source "$(dirname "$0")/lib.sh"

expect_out help 'usage: lemma COMMAND INPUT' "$LEMMA" --help
expect_out version '^lemma [0-9]+\.[0-9]+' "$LEMMA" --version
expect_out version_cuda '^cuda: ' "$LEMMA" --version
expect_fail no_args 2 'usage:' "$LEMMA"
expect_fail unknown_command 2 "unknown command 'frobnicate'" "$LEMMA" frobnicate configs/tiny.cfg
expect_fail missing_config_arg 2 'missing CONFIG' "$LEMMA" train
expect_fail missing_config_file 2 "cannot read config '$TMP/nope.cfg'" "$LEMMA" train "$TMP/nope.cfg"
expect_fail unknown_option 2 "unknown option '--bogus'" "$LEMMA" config configs/tiny.cfg --bogus
# A command --help marks as not implemented (while there is one) says so and exits 2.
ni=$("$LEMMA" --help | awk '/\(not implemented yet\)/ {print $1; exit}')
if [[ -n $ni ]]; then
    expect_fail not_implemented 2 "'$ni' is not implemented yet" "$LEMMA" "$ni" configs/tiny.cfg
fi

printf '# nothing but a comment\n' >"$TMP/empty.cfg"
expect_fail empty_config 2 "empty.cfg: the config is empty" "$LEMMA" train "$TMP/empty.cfg"
expect_fail shape_error_named 2 "model.dim = 66 is not a multiple of model.n_heads = 8" "$LEMMA" train \
    tests/configs/train_small.cfg --set model.dim=66 --set model.n_heads=8 --set run.dir="$TMP/shape"
expect_fail shape_error_in_config_check 2 "model.n_heads = 8 is not a multiple of model.n_kv_heads = 3" \
    "$LEMMA" config tests/configs/train_small.cfg --set model.n_heads=8 --set model.n_kv_heads=3
printf '# a typo on line 3\ntrian = {\n  lr = 1;\n};\n' >"$TMP/typo.cfg"
expect_fail typo_key 2 "typo.cfg:3: unknown key 'trian.lr' \(did you mean 'train.lr'\?\)" \
    "$LEMMA" config "$TMP/typo.cfg"
printf 'train = {\n  steps = 1.5;\n};\n' >"$TMP/type.cfg"
expect_fail wrong_type 2 "type.cfg:2: .*train.steps.* integer" "$LEMMA" config "$TMP/type.cfg"
printf 'train = {\n\n  lr = 20.0;\n};\n' >"$TMP/range.cfg"
expect_fail out_of_range 2 "range.cfg:3: .*train.lr.* out of range" "$LEMMA" config "$TMP/range.cfg"
printf 'train = {\n  lr = ;\n};\n' >"$TMP/parse.cfg"
expect_fail parse_error 2 "parse.cfg:2: parse error" "$LEMMA" config "$TMP/parse.cfg"
expect_fail bad_set 2 "--set 'train.lr': expected key=value" "$LEMMA" config configs/tiny.cfg --set train.lr
expect_fail bad_set_value 2 "train.steps.* integer" "$LEMMA" config configs/tiny.cfg --set train.steps=many

expect_out set_applies 'lr = 0.125;' "$LEMMA" config configs/tiny.cfg --dump --set train.lr=0.125
expect_out int_for_float 'lr = 1(\.0)?;' "$LEMMA" config configs/tiny.cfg --dump --set train.lr=1
expect_out reference '\| `train.lr` \|' "$LEMMA" config --reference

# The dump reads back as a config with the same effective values.
"$LEMMA" config configs/tiny.cfg --dump >"$TMP/dump.cfg" 2>&1
"$LEMMA" config "$TMP/dump.cfg" --dump >"$TMP/dump2.cfg" 2>&1
if diff <(grep -v '^#' "$TMP/dump.cfg") <(grep -v '^#' "$TMP/dump2.cfg") >/dev/null; then echo "PASS dump_round_trip"
else echo "FAIL dump_round_trip: $(diff "$TMP/dump.cfg" "$TMP/dump2.cfg" | head -5)"; fi

out=$("${MPIRUN[@]}" -np 3 "$LEMMA" config configs/tiny.cfg --dump 2>&1)
if [[ $(grep -c '^# lemma .*world size 3' <<<"$out") == 1 && $(grep -c '^run = {' <<<"$out") == 1 ]]; then
    echo "PASS dump_once_on_3_ranks"; else echo "FAIL dump_once_on_3_ranks: $(head -3 <<<"$out")"; fi
out=$("${MPIRUN[@]}" -np 2 "$LEMMA" config "$TMP/typo.cfg" 2>&1); rc=$?
if ((rc == 2)) && [[ $(grep -c "unknown key 'trian.lr'" <<<"$out") == 1 ]]; then echo "PASS error_once_on_2_ranks"
else echo "FAIL error_once_on_2_ranks: rc=$rc $out"; fi
expect_fail train_unknown_option 2 "lemma train: unknown option '--frob'" "$LEMMA" train configs/tiny.cfg --frob
expect_fail grade_missing_input 2 "lemma grade: cannot read '$TMP/in.jsonl'" "$LEMMA" grade "$TMP/in.jsonl"
expect_fail set_without_config 2 "unknown key 'nope.x'" "$LEMMA" inspect "$TMP/x.h5" --set nope.x=1
