# The command line itself: version, help, job-file errors as users see them.
set(_cli_dir ${CMAKE_CURRENT_SOURCE_DIR}/cli)
add_test(NAME cli.basics COMMAND bash ${_cli_dir}/test_cli.sh)
set_tests_properties(cli.basics PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)

# The console as users read it: embed's view-filter count, epochs from 1, the global step on
# resume, and eval / classify / segment tables printed whole, in order, in one layout, with
# eval.nc's numbers.
add_test(NAME cli.tables
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/tables_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/tables)
set_tests_properties(cli.tables PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)

# The dry run: checks with a bad value in the middle of a job file, the plan's figures
# against numbers computed from the corpus and the models' config.json.
add_test(NAME cli.check
         COMMAND /usr/bin/python3 ${_cli_dir}/check_cli.py ${MPIEXEC_EXECUTABLE}
                 $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/check_cli)
set_tests_properties(cli.check PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 600)

# Failures as one line with a hint printed by one rank (1 and 3 ranks), timestamps on every
# log line, progress cadence into a pipe.
add_test(NAME cli.errors
         COMMAND /usr/bin/python3 ${_cli_dir}/errors_cli.py ${MPIEXEC_EXECUTABLE}
                 $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/errors_cli)
set_tests_properties(cli.errors PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 600)
