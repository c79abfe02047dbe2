# BERT encoder: the plain-torch reference writes random HF-layout models and expectations
# that unit.test_bert and the encode-text CLI test read.
set(BERT_REF_DIR ${CMAKE_CURRENT_BINARY_DIR}/tmp/bert_ref)
add_test(NAME ref.bert_generate
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/bert_ref.py ${BERT_REF_DIR})
set_tests_properties(ref.bert_generate PROPERTIES FIXTURES_SETUP bert_ref
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref)
set_tests_properties(unit.test_bert PROPERTIES FIXTURES_REQUIRED bert_ref)

add_test(NAME cli.encode_text
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/bert_cli_check.py
                 $<TARGET_FILE:adaptor> ${BERT_REF_DIR})
set_tests_properties(cli.encode_text PROPERTIES FIXTURES_REQUIRED bert_ref
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)
