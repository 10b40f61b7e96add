# tests/shell/test_ref_check.sh: the PyTorch reference checked against independent
# formulations (attention, RoPE, GQA, gradcheck in float64, the exchange format), so that
# the parity tests compare the C model with something trustworthy.
/usr/bin/python3 "$(dirname "$0")/../ref/check_ref.py"
