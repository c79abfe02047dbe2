# Segmentation (`adaptor segment`): mask IO and geometry against cv2 + numpy (the fixture
# writes reference masks into the test tmp dir, unit.test_mask compares against them), and
# the command end to end on a synthetic corpus.
set(_mask_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/mask_ref)
add_test(NAME ref.mask_ref
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/mask_ref.py ${_mask_out})
set_tests_properties(ref.mask_ref PROPERTIES FIXTURES_SETUP mask_ref LABELS ref)
set_tests_properties(unit.test_mask PROPERTIES FIXTURES_REQUIRED mask_ref)

# The command end to end: learning above the constant baselines on 1 and 2 ranks, the same
# label-fraction subset on both, the Adaptor path, the ResNet U-Net path, and bad masks.
add_test(NAME cli.segment
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/segment_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/segment)
set_tests_properties(cli.segment PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 600)

# A per-rank batch above 256 images (fixed-size index arrays once overflowed here).
add_test(NAME cli.segment_batch
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/segment_batch_cli.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/segment_batch)
set_tests_properties(cli.segment_batch PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi" TIMEOUT 900)
