# The stages together on a small synthetic corpus (embed rank-independence and resume,
# bad rows, pretrain + eval outputs).
add_test(NAME cli.pipeline
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/pipeline_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/pipeline)
set_tests_properties(cli.pipeline PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)
