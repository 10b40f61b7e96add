# tests/shell/test_ckpt_mpi.sh: checkpoints across world sizes (tests/mpi/ckpt_mpi.c). Saved
# on 1, 2 or 3 ranks with even, skewed (cuts inside rows, empty ranks) or one-rank ranges,
# loaded on another world size with other ranges: every value bitwise and the meta; keep and
# latest under MPI; the mismatch list and the fallback message once, from rank 0; and
# `lemma inspect` on a checkpoint, a missing file and a file that is not HDF5.
source "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mpi/ckpt_mpi

# save_np save_split load_np load_split
combos=("1 even 2 skew" "2 even 3 even" "2 skew 1 even" "3 skew 2 even" "3 last 3 all"
        "3 skew 3 skew" "2 last 3 skew" "1 even 3 last")
for c in "${combos[@]}"; do
    read -r snp ssplit lnp lsplit <<<"$c"
    name="save_np${snp}_${ssplit}_load_np${lnp}_${lsplit}"
    dir=$TMP/$name
    out=$("${MPIRUN[@]}" -np "$snp" "$BIN" save "$dir" 17 "$ssplit" 2>&1) || { echo "FAIL $name: save: $out"; continue; }
    out=$("${MPIRUN[@]}" -np "$lnp" "$BIN" load "$dir" "$lsplit" 17 2>&1)
    ok=$(grep -c "load ok: step 17, .* written by $snp ranks" <<<"$out")
    if [[ $ok == "$lnp" ]] && ! grep -q FAIL <<<"$out"; then echo "PASS $name"
    else echo "FAIL $name: $ok of $lnp ranks loaded"; echo "$out" | head -8 | sed 's/^/     /'; fi
done

dir=$TMP/keep
for s in 1 2 3 4; do "${MPIRUN[@]}" -np 3 "$BIN" save "$dir" $s skew 2 >/dev/null 2>&1; done
files=$(cd "$dir/ckpt" && ls -A | tr '\n' ' ')
if [[ $files == "latest step_00000003.h5 step_00000004.h5 " && $(cat "$dir/ckpt/latest") == step_00000004.h5 ]]
then echo "PASS keep_and_latest_np3"; else echo "FAIL keep_and_latest_np3: files '$files'"; fi

out=$("${MPIRUN[@]}" -np 2 "$BIN" mismatch "$dir" 2>&1)
want='step_00000004.h5: checkpoint does not match the model: layers.0.attn.wq: checkpoint 16x16, model 32x16; norm: checkpoint 16, model 16x1; optim/m/layers.0.attn.wq: checkpoint 16x16, model 16x8; missing: lm_head.missing'
if [[ $(grep -c "rc -1: .*$want" <<<"$out") == 2 ]] && ! grep -q "trying the previous" <<<"$out"
then echo "PASS mismatch_lists_all_np2"; else echo "FAIL mismatch_lists_all_np2: $out"; fi

# The newest truncated: every rank falls back to the previous one; one warning, from rank 0.
truncate -s 9000 "$dir/ckpt/step_00000004.h5"
out=$("${MPIRUN[@]}" -np 3 "$BIN" load "$dir" even 3 2>&1)
if [[ $(grep -c "load ok: step 3" <<<"$out") == 3 ]] &&
   [[ $(grep -c "warning: $dir/ckpt/step_00000004.h5: truncated file" <<<"$out") == 1 ]]
then echo "PASS fallback_np3"; else echo "FAIL fallback_np3: $out"; fi
printf 'garbage' >"$dir/ckpt/step_00000003.h5"
out=$("${MPIRUN[@]}" -np 2 "$BIN" load "$dir" even 2>&1)
if [[ $(grep -c "no loadable checkpoint in $dir/ckpt (2 tried)" <<<"$out") == 2 ]] &&
   grep -q "step_00000003.h5: not an HDF5 file" <<<"$out"
then echo "PASS all_corrupt_np2"; else echo "FAIL all_corrupt_np2: $out"; fi

# Saves the ranks disagree on: the same refusal on every rank, no hang, no file.
for kind in gap overlap list; do
    out=$(timeout 60 "${MPIRUN[@]}" -np 3 "$BIN" badsave "$TMP/bad_$kind" "$kind" 2>&1)
    case $kind in
        gap) want='tensor model/params/wide: the ranks. ranges cover 149 of 150 elements' ;;
        overlap) want='tensor model/params/wide: the ranks. ranges overlap at element 50' ;;
        list) want='the ranks passed different tensor lists' ;;
    esac
    if [[ $(grep -c "rc -1: .*$want" <<<"$out") == 3 ]] && ! ls "$TMP/bad_$kind"/ckpt/*.h5 >/dev/null 2>&1
    then echo "PASS refused_save_$kind"; else echo "FAIL refused_save_$kind: $out"; fi
done

# lemma inspect
ck=$TMP/save_np2_skew_load_np1_even/ckpt/step_00000017.h5
expect_out inspect_summary 'step        17 \(tokens 69632' "$LEMMA" inspect "$ck"
expect_out inspect_written 'by lemma [0-9.]+ on 2 ranks' "$LEMMA" inspect "$ck"
expect_out inspect_model 'model       \{"dim":16,"n_layers":2\}' "$LEMMA" inspect "$ck"
expect_out inspect_groups 'optim/v +9 tensors +2520 floats' "$LEMMA" inspect "$ck"
expect_out inspect_tensor 'model/params/tok_emb +37x16 +[0-9.]+' "$LEMMA" inspect "$ck"
expect_out inspect_all 'optim/v/lm_head +37x16' "$LEMMA" inspect "$ck" --all
expect_out inspect_config '^run = \{ name = "ckpt-test"; \};$' "$LEMMA" inspect "$ck" --config
out=$("${MPIRUN[@]}" -np 2 "$LEMMA" inspect "$ck" 2>&1)
if [[ $(grep -c '^step ' <<<"$out") == 1 ]]; then echo "PASS inspect_once_on_2_ranks"
else echo "FAIL inspect_once_on_2_ranks: $out"; fi
expect_fail inspect_missing 2 "lemma inspect: cannot open checkpoint '$TMP/none.h5': No such file" \
    "$LEMMA" inspect "$TMP/none.h5"
echo "just text" >"$TMP/text.h5"
expect_fail inspect_not_hdf5 2 "lemma inspect: $TMP/text.h5: not an HDF5 file" "$LEMMA" inspect "$TMP/text.h5"
expect_fail inspect_truncated 2 "lemma inspect: .*step_00000004.h5: truncated file" \
    "$LEMMA" inspect "$dir/ckpt/step_00000004.h5"
expect_fail inspect_bad_option 2 "lemma inspect: unknown option '--frob'" "$LEMMA" inspect "$ck" --frob
