# liburing as the imported target tern::liburing, found through pkg-config.
#
# Included by tern's own CMakeLists.txt and, installed next to it, by tern-config.cmake: a
# consumer of the installed (static) libtern finds and links the same liburing the build did.
# Quiet on purpose: the includer decides whether a missing liburing is an error (the build) or
# a "package not found" (find_package(tern) in a consumer).
if(NOT TARGET tern::liburing)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(TERN_LIBURING QUIET IMPORTED_TARGET liburing)
  endif()
  if(TARGET PkgConfig::TERN_LIBURING)
    add_library(tern::liburing INTERFACE IMPORTED)
    target_link_libraries(tern::liburing INTERFACE PkgConfig::TERN_LIBURING)
  endif()
endif()
