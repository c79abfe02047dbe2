# The stages together on a small synthetic corpus (embed rank-independence and resume,
# bad rows, pretrain + eval outputs).
add_test(NAME cli.pipeline
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/pipeline_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/pipeline)
set_tests_properties(cli.pipeline PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)

# The demo job learns: retrieval after pretraining above chance and the untrained Adaptor.
add_test(NAME cli.e2e_learning
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/e2e_learning.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/e2e)
set_tests_properties(cli.e2e_learning PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 1500)

# embed's decode thread ([run] decode_overlap): the same caches with and without it on 1 and
# 2 ranks, the same error line for a corrupt image mid-manifest, committed parts intact.
add_test(NAME cli.embed_overlap
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/embed_overlap_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/embed_overlap)
set_tests_properties(cli.embed_overlap PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)
