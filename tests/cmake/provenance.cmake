# Provenance (version, commit, BLIS kernels, threads, ranks, hosts, manifest checksum,
# config) in every output kind of every stage, checked against independent computations;
# `adaptor status` on finished, killed, stopped, corrupt and copied run folders.
add_test(NAME cli.provenance
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/provenance_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/provenance)
set_tests_properties(cli.provenance PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi" TIMEOUT 900)
add_test(NAME cli.status
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/status_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/status)
set_tests_properties(cli.status PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi" TIMEOUT 600)
