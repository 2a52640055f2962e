# library_only_build_test: configures a fresh build of tern with the apps, tests, benchmarks
# and examples off and CLI11, GoogleTest and Google Benchmark made unfindable, then builds the
# library target alone: building libtern must need nothing but liburing (and threads).
#
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DCXX_COMPILER=... -DC_COMPILER=...
#         -P library_only_build_test.cmake
#
# Built without optimisation or debug info and without sanitizers (the build type "None"): the
# point is what configure needs, and this keeps the second compile of the library short.
# Without precompiled headers, so that each library file is compiled with only the headers it
# includes: a missing #include fails here even though the precompiled ones hide it elsewhere.
cmake_minimum_required(VERSION 3.25)

foreach(required SOURCE_DIR WORK_DIR CXX_COMPILER C_COMPILER)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "library_only_build_test: -D${required}=... is required")
  endif()
endforeach()

include("${CMAKE_CURRENT_LIST_DIR}/run_step.cmake")

set(build "${WORK_DIR}/library-only")
file(REMOVE_RECURSE "${build}")

run_step("configure the library alone" 120
         "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}"
         -DCMAKE_BUILD_TYPE=None -DTERN_SANITIZE= -DTERN_PRECOMPILE_HEADERS=OFF
         "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_C_COMPILER=${C_COMPILER}"
         -DTERN_BUILD_APPS=OFF -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF -DTERN_BUILD_EXAMPLES=OFF
         -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON
         -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)
run_step("build the tern target" 900 "${CMAKE_COMMAND}" --build "${build}" -j 2 --target tern)
# The tree is a throw-away: do not leave a second copy of the objects in the build directory.
file(REMOVE_RECURSE "${build}")
