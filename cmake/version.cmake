# Regenerates version.h with the current git commit at every build; the file is only
# rewritten when the commit changes, so nothing recompiles needlessly.
execute_process(COMMAND git -C ${SRC} describe --always --dirty --abbrev=12
                OUTPUT_VARIABLE ADAPTOR_GIT OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT ADAPTOR_GIT)
  set(ADAPTOR_GIT "unknown")
endif()
configure_file(${IN} ${OUT} @ONLY)
