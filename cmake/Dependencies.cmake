# Every dependency comes from Debian's packages; a missing one stops the configure step
# with the package to install.
find_package(PkgConfig REQUIRED)

set(ADAPTOR_DEPS "")
set(ADAPTOR_MISSING "")

macro(adaptor_pkg var module apt)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
  if(${var}_FOUND)
    list(APPEND ADAPTOR_DEPS PkgConfig::${var})
  else()
    list(APPEND ADAPTOR_MISSING ${apt})
    message(SEND_ERROR "adaptor: pkg-config module '${module}' not found: apt-get install ${apt}")
  endif()
endmacro()

# A library without a pkg-config file: header + library by name.
macro(adaptor_lib var header libname apt)
  find_path(${var}_INCLUDE_DIR ${header} PATH_SUFFIXES ${ARGN})
  find_library(${var}_LIBRARY NAMES ${libname})
  if(${var}_INCLUDE_DIR AND ${var}_LIBRARY)
    add_library(adaptor_dep_${var} INTERFACE IMPORTED)
    set_target_properties(adaptor_dep_${var} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES ${${var}_INCLUDE_DIR}
      INTERFACE_LINK_LIBRARIES ${${var}_LIBRARY})
    list(APPEND ADAPTOR_DEPS adaptor_dep_${var})
  else()
    list(APPEND ADAPTOR_MISSING ${apt})
    message(SEND_ERROR "adaptor: ${header} / lib${libname} not found: apt-get install ${apt}")
  endif()
endmacro()

find_package(MPI COMPONENTS C)
if(MPI_C_FOUND)
  list(APPEND ADAPTOR_DEPS MPI::MPI_C)
else()
  list(APPEND ADAPTOR_MISSING libopenmpi-dev openmpi-bin)
  message(SEND_ERROR "adaptor: MPI not found: apt-get install libopenmpi-dev openmpi-bin")
endif()

# Debian installs the MPI build of netCDF beside the serial one; its .pc lives in the
# default path under the name netcdf-mpi.
adaptor_pkg(NETCDF netcdf-mpi libnetcdf-mpi-dev)
# ...but that .pc names /usr/include, while the MPI build's headers (netcdf.h and
# netcdf_par.h) live in the library's own folder.
if(NETCDF_FOUND)
  find_path(NETCDF_MPI_INCLUDE_DIR netcdf_par.h
            PATHS ${NETCDF_PREFIX}/include /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/netcdf/mpi/include
            NO_DEFAULT_PATH)
  if(NETCDF_MPI_INCLUDE_DIR)
    set_property(TARGET PkgConfig::NETCDF APPEND PROPERTY
                 INTERFACE_INCLUDE_DIRECTORIES ${NETCDF_MPI_INCLUDE_DIR})
  else()
    list(APPEND ADAPTOR_MISSING libnetcdf-mpi-dev)
    message(SEND_ERROR "adaptor: netcdf_par.h of the MPI netCDF build not found: apt-get install libnetcdf-mpi-dev")
  endif()
endif()
adaptor_pkg(SPNG spng libspng-dev)
adaptor_pkg(JPEG libjpeg libjpeg62-turbo-dev)
adaptor_pkg(UTF8PROC libutf8proc libutf8proc-dev)
adaptor_pkg(CJSON libcjson libcjson-dev)
adaptor_pkg(INIH inih libinih-dev)
# BLIS and ScaLAPACK ship no usable .pc on Debian 12 (scalapack-openmpi.pc requires a
# blas.pc that nothing installs).
adaptor_lib(BLIS blis.h blis libblis-dev x86_64-linux-gnu/blis-openmp x86_64-linux-gnu/blis-pthread
            x86_64-linux-gnu/blis-serial aarch64-linux-gnu/blis-openmp)
find_library(SCALAPACK_LIBRARY NAMES scalapack-openmpi)
if(SCALAPACK_LIBRARY)
  list(APPEND ADAPTOR_DEPS ${SCALAPACK_LIBRARY})
else()
  list(APPEND ADAPTOR_MISSING libscalapack-openmpi-dev)
  message(SEND_ERROR "adaptor: libscalapack-openmpi not found: apt-get install libscalapack-openmpi-dev")
endif()
# LAPACK by name (ScaLAPACK loads it anyway): the probe / PCA tests and benchmark compare
# against a single-process dgels / dposv / dsyevd.
find_library(LAPACK_LIBRARY NAMES lapack)
if(LAPACK_LIBRARY)
  list(APPEND ADAPTOR_DEPS ${LAPACK_LIBRARY})
else()
  list(APPEND ADAPTOR_MISSING liblapack-dev)
  message(SEND_ERROR "adaptor: liblapack not found: apt-get install liblapack-dev")
endif()
adaptor_lib(CSV csv.h csv libcsv-dev)
# oneDNN (bf16 matrix products of the frozen encoders); Debian ships no .pc for it.
adaptor_lib(DNNL oneapi/dnnl/dnnl.h dnnl libdnnl-dev)

if(ADAPTOR_BUILD_TESTS)
  pkg_check_modules(CHECK QUIET IMPORTED_TARGET check)
  if(NOT CHECK_FOUND)
    list(APPEND ADAPTOR_MISSING check)
    message(SEND_ERROR "adaptor: the Check unit-test library was not found: apt-get install "
                       "check (or configure with -DADAPTOR_BUILD_TESTS=OFF: no tests)")
  endif()
endif()

if(ADAPTOR_MISSING)
  list(REMOVE_DUPLICATES ADAPTOR_MISSING)
  string(REPLACE ";" " " _pk "${ADAPTOR_MISSING}")
  message(FATAL_ERROR "adaptor: missing dependencies; install them with:\n  apt-get install ${_pk}")
endif()
