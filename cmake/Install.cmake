# Installs the libraries, headers and CLI, and exports a CMake package
# (find_package(tensortier) -> tensortier::tensortier, and the C ABI
# libtensortier.so as tensortier::tensortier_shared) and tensortier.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS tensortier tensortier_shared EXPORT tensortierTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tensortier DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT tensortierTargets NAMESPACE tensortier::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tensortier)

set(TT_PKG_MODULES hwloc)
if(TENSORTIER_WITH_PMEM2)
  list(APPEND TT_PKG_MODULES libpmem2)
endif()
if(TENSORTIER_WITH_MEMKIND)
  list(APPEND TT_PKG_MODULES memkind)
endif()
if(TENSORTIER_WITH_NUMA)
  list(APPEND TT_PKG_MODULES numa)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/tensortierConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tensortierConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tensortier)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tensortierConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tensortierConfig.cmake
              ${PROJECT_BINARY_DIR}/tensortierConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tensortier)

list(JOIN TT_PKG_MODULES " " TT_PC_REQUIRES)
# Relocatable: the prefix is found from the .pc file's own place, so
# `cmake --install --prefix DIR` works without reconfiguring.
string(REGEX MATCHALL "[^/]+" _tt_libdir_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(TT_PC_PREFIX "\${pcfiledir}")
foreach(_part IN LISTS _tt_libdir_parts)
  string(APPEND TT_PC_PREFIX "/..")
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/tensortier.pc.in ${PROJECT_BINARY_DIR}/tensortier.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tensortier.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
