# The command line itself: version, help, job-file errors as users see them.
set(_cli_dir ${CMAKE_CURRENT_SOURCE_DIR}/cli)
add_test(NAME cli.basics COMMAND bash ${_cli_dir}/test_cli.sh)
set_tests_properties(cli.basics PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)
