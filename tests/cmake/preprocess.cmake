# Image decoding and MGCA preprocessing against cv2 + numpy (tests/ref/preprocess_ref.py,
# needs Debian's python3-opencv): the fixture writes reference outputs into the test tmp
# dir, unit.test_preprocess compares against them.
set(_pp_out ${CMAKE_CURRENT_BINARY_DIR}/tmp/preprocess_ref)
add_test(NAME ref.preprocess_ref
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/preprocess_ref.py
                 ${ADAPTOR_TEST_DATA}/images ${_pp_out})
set_tests_properties(ref.preprocess_ref PROPERTIES FIXTURES_SETUP preprocess_ref LABELS ref)
set_tests_properties(unit.test_preprocess PROPERTIES FIXTURES_REQUIRED preprocess_ref)
