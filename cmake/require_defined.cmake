# require_defined(<script> <var>...): stops a `cmake -P` script with a clear error when one of
# the -D<var>=... arguments it needs was not given.
function(require_defined script)
  foreach(var IN LISTS ARGN)
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${script}: -D${var}=... is required")
    endif()
  endforeach()
endfunction()
