# discover_test_groups.cmake: registers a GoogleTest binary with CTest as one test per TEST,
# all its parameter rows run by one process (tern_test() in tests/CMakeLists.txt, when
# TERN_TEST_PROCESS is "test"). Run after each build of the binary, like gtest_discover_tests:
#
#   cmake -DTEST_EXECUTABLE=... -DTEST_NAME=... -DCTEST_FILE=... -DWORKING_DIRECTORY=...
#         -DTIMEOUT=... [-DEXCLUDE=patterns] -P discover_test_groups.cmake
#
# Why: under the sanitizers a test process costs about 0.2 s before its first test starts and
# as it exits (shadow memory, the leak check), 3,000 cases that much each. A group is named
# Prefix/Suite.Test; a failed case is named in its output. EXCLUDE leaves out the cases whose
# full name (Prefix/Suite.Test/row) matches one of its GoogleTest filter patterns (* and ?
# wildcards, several joined by ':'): they are not run at all.
cmake_minimum_required(VERSION 3.25)

include("${CMAKE_CURRENT_LIST_DIR}/../cmake/require_defined.cmake")
require_defined(discover_test_groups TEST_EXECUTABLE TEST_NAME CTEST_FILE WORKING_DIRECTORY TIMEOUT)

execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests
                WORKING_DIRECTORY "${WORKING_DIRECTORY}"
                OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status
                TIMEOUT 60)
if(NOT status EQUAL 0)
  file(REMOVE "${CTEST_FILE}")
  message(FATAL_ERROR "discover_test_groups: ${TEST_EXECUTABLE} --gtest_list_tests failed "
                      "(${status}):\n${listing}${errors}")
endif()

# EXCLUDE's patterns as one regex.
set(exclude_regex "")
if(DEFINED EXCLUDE AND NOT EXCLUDE STREQUAL "")
  string(REPLACE ":" ";" patterns "${EXCLUDE}")
  foreach(pattern IN LISTS patterns)
    string(REGEX REPLACE "([][.+^$()|\\\\])" "\\\\\\1" pattern "${pattern}")
    string(REPLACE "*" ".*" pattern "${pattern}")
    string(REPLACE "?" "." pattern "${pattern}")
    list(APPEND alternatives "^${pattern}$")
  endforeach()
  list(JOIN alternatives "|" exclude_regex)
endif()

# The listing: a suite per line ("Prefix/Suite."), then its cases indented by two spaces
# ("  Test/row  # GetParam() = ..."). A group holds the cases of one suite and test name.
string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(suite "")
set(groups "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE " *#.*$" "" line "${line}")
  if(line MATCHES "^  (.+)$")
    set(case "${CMAKE_MATCH_1}")
    if(case MATCHES "^DISABLED_" OR suite MATCHES "(^|/)DISABLED_")
      continue()
    endif()
    set(full "${suite}${case}")
    if(NOT exclude_regex STREQUAL "" AND full MATCHES "${exclude_regex}")
      continue()
    endif()
    string(REGEX REPLACE "/.*$" "" test "${case}")
    set(group "${suite}${test}")
    string(MAKE_C_IDENTIFIER "${group}" key)
    if(NOT DEFINED cases_${key})
      list(APPEND groups "${group}")
      set(cases_${key} "")
    endif()
    string(APPEND cases_${key} ":${full}")
  elseif(line MATCHES "^([^ ].*\\.)$")
    set(suite "${CMAKE_MATCH_1}")
  endif()
endforeach()

set(script "")
foreach(group IN LISTS groups)
  string(MAKE_C_IDENTIFIER "${group}" key)
  string(SUBSTRING "${cases_${key}}" 1 -1 filter)
  # A group all of whose cases skipped passed none: CTest shows it as skipped, as it shows a
  # skipped case. The cases skipped in a group that passed are listed by the Makefile.
  string(APPEND script
    "add_test([==[${group}]==] [==[${TEST_EXECUTABLE}]==] [==[--gtest_filter=${filter}]==])\n"
    "set_tests_properties([==[${group}]==] PROPERTIES WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==]"
    " TIMEOUT ${TIMEOUT} SKIP_REGULAR_EXPRESSION [==[\\[  PASSED  \\] 0 tests\\.]==])\n")
endforeach()
if(groups STREQUAL "")
  string(APPEND script "# ${TEST_NAME}: no test to run here\n")
endif()
file(WRITE "${CTEST_FILE}" "${script}")
