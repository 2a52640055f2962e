# library_only_configure_test: configures a fresh tree of tern with the apps, tests, benchmarks
# and examples off and CLI11, GoogleTest and Google Benchmark made unfindable: the library alone
# must need nothing but liburing, SQLite and threads. The tree must offer the tern target.
#
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DCXX_COMPILER=... -DC_COMPILER=...
#         -P library_only_configure_test.cmake
#
# Configured, not built: compiling the library a second time (two minutes of both cores in
# every CI run) would add nothing but the include check, and the normal tree makes that one by
# compiling the library without precompiled headers (top CMakeLists.txt).
cmake_minimum_required(VERSION 3.25)

include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/require_defined.cmake")
require_defined(library_only_configure_test SOURCE_DIR WORK_DIR CXX_COMPILER C_COMPILER)

include("${CMAKE_CURRENT_LIST_DIR}/run_step.cmake")

set(build "${WORK_DIR}/library-only")
file(REMOVE_RECURSE "${build}")

run_step("configure the library alone" 120
         "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}"
         -DCMAKE_BUILD_TYPE=None -DTERN_SANITIZE=
         "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_C_COMPILER=${C_COMPILER}"
         -DTERN_BUILD_APPS=OFF -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF -DTERN_BUILD_EXAMPLES=OFF
         -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON
         -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)
run_step("list the tree's targets" 60 "${CMAKE_COMMAND}" --build "${build}" --target help)
if(NOT step_output MATCHES "(^|\n)\\.\\.\\. tern(\n|$)")
  message(FATAL_ERROR "the library-only tree has no tern target:\n${step_output}")
endif()
file(REMOVE_RECURSE "${build}")
