# Image encoders: the plain-torch reference writes random DINOv2 / ResNet models and the
# expected outputs that unit.test_dinov2, unit.test_resnet and the encode-image CLI test read.
set(VISION_REF_DIR ${CMAKE_CURRENT_BINARY_DIR}/tmp/vision_ref)
add_test(NAME ref.vision_generate
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/vision_ref.py ${VISION_REF_DIR})
set_tests_properties(ref.vision_generate PROPERTIES FIXTURES_SETUP vision_ref
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref)
set_tests_properties(unit.test_dinov2 unit.test_resnet PROPERTIES FIXTURES_REQUIRED vision_ref)

add_test(NAME cli.encode_image
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/vision_cli_check.py
                 $<TARGET_FILE:adaptor> ${VISION_REF_DIR})
set_tests_properties(cli.encode_image PROPERTIES FIXTURES_REQUIRED vision_ref
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)
