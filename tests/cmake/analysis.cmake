# The offline analysis (python3 -m analysis) on two small real runs, embeddings.nc against
# the caches and a numpy Adaptor, downstream tables from eval.nc files in the documented
# layout, and bad input (about 20 s: heavy).
add_test(NAME cli.analysis
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/analysis_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/analysis)
set_tests_properties(cli.analysis PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 600)
