#!/usr/bin/env bash
# Installs the Debian packages lemma needs to build, test and demo. Idempotent: quiet and
# fast when everything is present. --quiet prints nothing unless something is installed.
set -euo pipefail
PKGS=(build-essential pkg-config
      libopenmpi-dev openmpi-bin
      libhdf5-openmpi-dev hdf5-tools
      libconfig-dev libopenblas-dev libcjson-dev libpcre2-dev libutf8proc-dev
      python3 python3-torch python3-numpy python3-h5py python3-matplotlib
      slurm-wlm munge)   # slurmctld, slurmd, the client commands: the local cluster of tests/slurm/
quiet=0; [[ "${1:-}" == "--quiet" ]] && quiet=1
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    ((quiet)) || echo "deps: all ${#PKGS[@]} packages present"
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
