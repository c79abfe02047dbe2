# Pre-training against a plain-PyTorch reference, on 1, 2 and 3 ranks.
add_test(NAME ref.pretrain
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/pretrain_ref.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/pretrain_ref)
set_tests_properties(ref.pretrain PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "ref;mpi"
                     TIMEOUT 600)

# Stop by signal + resume, corrupt checkpoints, a killed rank, bad inputs.
add_test(NAME cli.pretrain
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/pretrain_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/pretrain_cli)
set_tests_properties(cli.pretrain PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)

# --resume against every checkpoint corrupt and against changed settings; the run folder's
# lock (two concurrent starts, a stale lock).
add_test(NAME cli.resume
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/resume_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/resume_cli)
set_tests_properties(cli.resume PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS "cli;mpi"
                     TIMEOUT 900)
