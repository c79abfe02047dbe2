# adaptor synth: byte-identical trees on 1 and 2 ranks, argument errors as users see them.
add_test(NAME cli.synth
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/synth/test_synth_cli.sh
                 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG})
set_tests_properties(cli.synth PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 600)
