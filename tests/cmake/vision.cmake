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
# torchxrayvision's ResNet autoencoder (arch = resnet_ae) against tests/ref/resnet_ae_ref.py,
# a torch re-implementation with the same module names, on two real NIH chest X-rays through
# the reference's preprocessing: a narrow network of the full depth through encode-image
# and `adaptor embed`, plus bad checkpoints (a few seconds of CPU); the real 101-elastic
# widths (heavy: ~10 s of CPU).
set(_ae_images ${ADAPTOR_TEST_DATA}/images/00000001_000.png
               ${ADAPTOR_TEST_DATA}/images/00027426_000.png)
add_test(NAME cli.encode_image_resnet_ae
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/resnet_ae_ref.py
                 $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/resnet_ae ${_ae_images})
set_tests_properties(cli.encode_image_resnet_ae PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS cli)
add_test(NAME cli.encode_image_resnet_ae_full
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/resnet_ae_ref.py
                 $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/resnet_ae_full
                 ${_ae_images} --full)
set_tests_properties(cli.encode_image_resnet_ae_full PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;heavy" TIMEOUT 600)
