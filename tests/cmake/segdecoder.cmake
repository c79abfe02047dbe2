# Segmentation decoders and MGCA's loss: the plain-torch reference writes tiny decoders, their
# inputs and expected outputs / gradients, and a loss case, that unit.test_segdecoder and
# unit.test_seg_loss read.
set(SEGDEC_REF_DIR ${CMAKE_CURRENT_BINARY_DIR}/tmp/segdecoder_ref)
add_test(NAME ref.segdecoder_generate
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/segdecoder_ref.py ${SEGDEC_REF_DIR})
set_tests_properties(ref.segdecoder_generate PROPERTIES FIXTURES_SETUP segdecoder_ref
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref)
set_tests_properties(unit.test_segdecoder unit.test_seg_loss PROPERTIES
                     FIXTURES_REQUIRED segdecoder_ref)
