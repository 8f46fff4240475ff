# Every dependency comes from a Debian package; a missing one stops configure
# with the package to install.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

# tt_require_pkg(<prefix> <pkg-config module> <debian package>)
function(tt_require_pkg prefix module debian)
  pkg_check_modules(${prefix} IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debian}")
  endif()
endfunction()

tt_require_pkg(HWLOC hwloc libhwloc-dev)
if(TENSORTIER_WITH_PMEM2)
  tt_require_pkg(PMEM2 libpmem2 libpmem2-dev)
endif()
if(TENSORTIER_WITH_MEMKIND)
  tt_require_pkg(MEMKIND memkind libmemkind-dev)
endif()
if(TENSORTIER_WITH_NUMA)
  tt_require_pkg(NUMA numa libnuma-dev)
endif()

find_package(Threads REQUIRED)

find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp)
if(NOT CLI11_INCLUDE_DIR)
  message(FATAL_ERROR "CLI11 not found: apt-get install libcli11-dev")
endif()
find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann_json not found: apt-get install nlohmann-json3-dev")
endif()

if(TENSORTIER_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "GoogleTest not found: apt-get install libgtest-dev libgmock-dev")
  endif()
endif()
if(TENSORTIER_BUILD_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR "Google Benchmark not found: apt-get install libbenchmark-dev")
  endif()
  tt_require_pkg(JEMALLOC jemalloc libjemalloc-dev)
endif()

# The 3D convolution runtime (src/runtime) computes through oneDNN.
find_package(dnnl CONFIG QUIET)
if(NOT dnnl_FOUND)
  message(FATAL_ERROR "oneDNN (dnnl) not found: apt-get install libdnnl-dev")
endif()

# NIfTI images in and out (src/runtime/data/nifti.cpp, docs/nifti.md). Debian's
# libnifti2-dev ships no .pc file, and its NIFTIConfig.cmake names files the
# package does not install (/usr/lib/libznz.so.3.0.0, nifti_tool): find the
# header and the libraries directly.
find_path(NIFTI2_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti)
find_library(NIFTI2_LIBRARY nifti2)
find_library(NIFTI2_ZNZ_LIBRARY znz)
if(NOT NIFTI2_INCLUDE_DIR OR NOT NIFTI2_LIBRARY OR NOT NIFTI2_ZNZ_LIBRARY)
  message(FATAL_ERROR "libnifti2 (nifti2_io.h, libnifti2, libznz) not found: apt-get install libnifti2-dev")
endif()
add_library(tt_nifti2 INTERFACE IMPORTED GLOBAL)
target_include_directories(tt_nifti2 INTERFACE ${NIFTI2_INCLUDE_DIR})
target_link_libraries(tt_nifti2 INTERFACE ${NIFTI2_LIBRARY} ${NIFTI2_ZNZ_LIBRARY})
