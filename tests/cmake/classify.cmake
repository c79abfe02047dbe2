# `adaptor classify` end to end: learning on a synthetic corpus, 1%/10%/100% fractions,
# rank-count independence, bad input.
add_test(NAME cli.classify
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/classify_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/classify)
set_tests_properties(cli.classify PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 600)

# Token-mode Adaptors downstream: classify's image path (image tokens beside the fixed text
# context of [classify] prompt) against PyTorch, on 2 ranks; bad input. About 20 s in the
# release build but 2 minutes under the sanitizers (7 program starts), hence heavy.
add_test(NAME cli.classify_tokens
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/classify_tokens_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/classify_tokens)
set_tests_properties(cli.classify_tokens PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 300)
