# Install rules and the tern package: `cmake --install <build>` puts the public headers,
# libtern and tern-config.cmake (+ version file) under the prefix, so that a separate project
# does find_package(tern) and links tern::tern. The library and its package are the component
# "tern" (`cmake --install <build> --component tern` needs only the library built); programs
# install as the component "apps".
include(CMakePackageConfigHelpers)

set(TERN_PACKAGE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/tern")

install(TARGETS tern EXPORT tern-targets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT tern
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT tern
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT tern)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tern"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT tern
  FILES_MATCHING PATTERN "*.h")
install(EXPORT tern-targets NAMESPACE tern::
  DESTINATION "${TERN_PACKAGE_DIR}" COMPONENT tern)

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/tern-config.cmake.in"
  "${PROJECT_BINARY_DIR}/tern-config.cmake"
  INSTALL_DESTINATION "${TERN_PACKAGE_DIR}")
# 0.x: a minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/tern-config-version.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/tern-config.cmake"
  "${PROJECT_BINARY_DIR}/tern-config-version.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/tern-liburing.cmake"
  DESTINATION "${TERN_PACKAGE_DIR}" COMPONENT tern)
