# Sourced by tests/run.sh and jobs/demo.sh: make sure the Debian packages are there and
# build adaptor.  Usage: ad_bootstrap_packages <group>...   (groups: build test demo)
#                        ad_build <build-dir> [cmake args...]

AD_PKGS_build="build-essential cmake pkg-config git libopenmpi-dev openmpi-bin libblis-dev
  libscalapack-openmpi-dev libnetcdf-mpi-dev check libsubunit-dev libspng-dev
  libjpeg62-turbo-dev libutf8proc-dev libcjson-dev libinih-dev libcsv-dev liblapack-dev
  libdnnl-dev"
AD_PKGS_test="python3 python3-numpy python3-torch python3-netcdf4 python3-opencv netcdf-bin
  python3-matplotlib python3-sklearn python3-xarray slurm-wlm munge clang libclang-rt-14-dev"
AD_PKGS_demo="python3 python3-numpy python3-netcdf4 python3-matplotlib python3-sklearn"

ad_missing_packages() {
  local p missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing="$missing $p"
  done
  echo "$missing"
}

ad_bootstrap_packages() {
  local g pkgs=""
  for g in "$@"; do
    eval "pkgs=\"\$pkgs \$AD_PKGS_$g\""
  done
  local missing
  missing=$(ad_missing_packages $pkgs)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "adaptor: missing Debian packages; install them with:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    return 1
  fi
  echo "adaptor: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends $missing >/tmp/adaptor-apt.log 2>&1; then
    apt-get update >>/tmp/adaptor-apt.log 2>&1
    apt-get install -y --no-install-recommends $missing >>/tmp/adaptor-apt.log 2>&1 || {
      tail -20 /tmp/adaptor-apt.log >&2
      echo "adaptor: apt-get install failed (log: /tmp/adaptor-apt.log)" >&2
      return 1
    }
  fi
}

# Open MPI refuses root unless told, and this project runs many ranks on few cores.
ad_mpi_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_rmaps_base_oversubscribe=1
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BLIS_NUM_THREADS=${BLIS_NUM_THREADS:-1}
}

ad_build() {
  local dir=$1
  shift
  cmake -S "$AD_ROOT" -B "$dir" "$@" >"$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log" >&2
    return 1
  }
  cmake --build "$dir" -j "$(getconf _NPROCESSORS_ONLN)" >"$dir.build.log" 2>&1 || {
    grep -E "error|warning" -A3 "$dir.build.log" | head -60 >&2
    echo "adaptor: build failed (log: $dir.build.log)" >&2
    return 1
  }
}
