# tests/shell/test_slurm.sh: runs tests/slurm/test_slurm.sh (the slurm/ batch scripts against
# a real single-node Slurm cluster started and stopped by the test) as part of the suite.
cd "$(dirname "$0")/../.." && exec bash tests/slurm/test_slurm.sh "$@"
