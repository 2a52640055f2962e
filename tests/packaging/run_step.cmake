# run_step(<what> <timeout s> <command...>): one step of a packaging test (cmake -P). Runs the
# command for at most <timeout> seconds; on failure stops the test with the command and its
# output. On success leaves the output in `step_output`.
function(run_step what timeout)
  execute_process(COMMAND ${ARGN} TIMEOUT ${timeout}
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "${what} failed (${result}):\n${command}\n${output}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${output}" PARENT_SCOPE)
endfunction()
