# install_consumer_test: installs the already-built tern (component "tern": headers, libtern,
# tern-config.cmake) into a staging prefix, then configures, builds and runs tests/consumer/
# against it in a fresh directory, as a user of the installed package would.
#
#   cmake -DTERN_BUILD_DIR=... -DWORK_DIR=... -DCONSUMER_SOURCE_DIR=... -DCXX_COMPILER=...
#         -DBUILD_TYPE=... [-DSANITIZE_FLAGS=...] -P install_consumer_test.cmake
#
# In a sanitizer build libtern is instrumented, so the consumer is compiled and linked with the
# same -fsanitize flags (SANITIZE_FLAGS) and runs under the sanitizer too.
cmake_minimum_required(VERSION 3.25)

include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/require_defined.cmake")
require_defined(install_consumer_test TERN_BUILD_DIR WORK_DIR CONSUMER_SOURCE_DIR CXX_COMPILER BUILD_TYPE)

include("${CMAKE_CURRENT_LIST_DIR}/run_step.cmake")

set(stage "${WORK_DIR}/stage")
set(consumer_build "${WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${stage}" "${consumer_build}")

run_step("install into ${stage}" 120
         "${CMAKE_COMMAND}" --install "${TERN_BUILD_DIR}" --component tern --prefix "${stage}")

set(consumer_flags "")
if(SANITIZE_FLAGS)
  list(APPEND consumer_flags "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}"
                             "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
  # Each header compiled alone is a compile-only check, the same under a sanitizer: the normal
  # tree's run makes it; here the consumer itself runs against the instrumented libtern.
  list(APPEND consumer_flags -DCONSUMER_CHECK_HEADERS=OFF)
endif()
run_step("configure the consumer" 120
         "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
         "-DCMAKE_PREFIX_PATH=${stage}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
         "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" ${consumer_flags})

# The package must come from the staging prefix, not from the source tree or /usr/local.
file(STRINGS "${consumer_build}/CMakeCache.txt" tern_dir_line REGEX "^tern_DIR:")
string(REGEX REPLACE "^tern_DIR:[A-Z]+=" "" tern_dir "${tern_dir_line}")
file(REAL_PATH "${stage}" stage_real)
file(REAL_PATH "${tern_dir}" tern_dir_real)
string(FIND "${tern_dir_real}" "${stage_real}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "find_package(tern) found ${tern_dir}, not the staged install in ${stage}")
endif()

run_step("build the consumer" 300 "${CMAKE_COMMAND}" --build "${consumer_build}" -j 2)

run_step("run the consumer" 60 "${consumer_build}/tern_consumer")
message(STATUS "${step_output}")
