# `adaptor tokenize` against HuggingFace's ids (tests/ref/make_tokenizer_expectations.js),
# and the MGCA Python reference's committed output being current (tests/ref/mgca_text.py).
#
# Included by tests/CMakeLists.txt to register the tests; run with `cmake -P` (script
# mode) by those tests to execute one CLI check.
if(CMAKE_SCRIPT_MODE_FILE)
  # Open MPI's dlclose'd components leak at exit under LeakSanitizer with unsymbolizable
  # frames the suppression file cannot name; the tokenizer's own memory is leak-checked
  # by tests/unit/test_{wordpiece,mgca_text}.c.
  if(DEFINED ENV{ASAN_OPTIONS})
    set(ENV{ASAN_OPTIONS} "$ENV{ASAN_OPTIONS}:detect_leaks=0")
  else()
    set(ENV{ASAN_OPTIONS} "detect_leaks=0")
  endif()
  execute_process(COMMAND ${BIN} tokenize --model ${MODEL} ${ARGS}
                  INPUT_FILE ${IN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL WANT_RC)
    message(FATAL_ERROR "adaptor tokenize exited with ${rc}, expected ${WANT_RC}\n${err}")
  endif()
  file(READ ${EXPECTED} want)
  if(NOT out STREQUAL want)
    message(FATAL_ERROR "adaptor tokenize output differs from ${EXPECTED}:\n${out}")
  endif()
  if(DEFINED ERR_MATCH AND NOT err MATCHES "${ERR_MATCH}")
    message(FATAL_ERROR "stderr does not match '${ERR_MATCH}':\n${err}")
  endif()
  return()
endif()

set(_tok_exp ${ADAPTOR_TEST_DATA}/tokenizers/expected)
set(_tok_models ${ADAPTOR_TEST_DATA}/tokenizers)
set(_tok_script ${CMAKE_CURRENT_LIST_FILE})

function(adaptor_tokenize_test name model in expected want_rc)
  cmake_parse_arguments(T "" "ERR_MATCH" "ARGS" ${ARGN})
  set(extra "")
  if(T_ERR_MATCH)
    set(extra "-DERR_MATCH=${T_ERR_MATCH}")
  endif()
  add_test(NAME cli.tokenize.${name}
           COMMAND ${CMAKE_COMMAND} -DBIN=$<TARGET_FILE:adaptor> -DMODEL=${_tok_models}/${model}
                   -DIN=${in} -DEXPECTED=${expected} -DWANT_RC=${want_rc} "-DARGS=${T_ARGS}"
                   ${extra} -P ${_tok_script})
  set_tests_properties(cli.tokenize.${name} PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                       LABELS cli)
endfunction()

adaptor_tokenize_test(raw_bio bio-clinicalbert ${_tok_exp}/cli_raw_input.txt
                      ${_tok_exp}/cli_raw_bio.expected 0 ARGS --raw)
adaptor_tokenize_test(raw_cxr_ml10 cxr-bert-specialized ${_tok_exp}/cli_raw_input.txt
                      ${_tok_exp}/cli_raw_cxr_ml10.expected 0 ARGS --raw --max-length 10)
adaptor_tokenize_test(mgca_bert bert-base-uncased ${_tok_exp}/cli_mgca_input.txt
                      ${_tok_exp}/cli_mgca_bert.expected 0)
# A report MGCA drops: an empty output line in its place, the line named, exit status 1.
adaptor_tokenize_test(mgca_dropped bert-base-uncased ${_tok_exp}/cli_mgca_dropped_input.txt
                      ${_tok_exp}/cli_mgca_dropped.expected 1
                      ERR_MATCH "stdin line 2: report has fewer than 3 words.*1 of 3 reports")

add_test(NAME ref.mgca_text COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/mgca_text.py --check)
set_tests_properties(ref.mgca_text PROPERTIES LABELS ref)
