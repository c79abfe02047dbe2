# (Included after vision.cmake and bert.cmake, whose fixture folders it reads.)
# bf16 encoders (src/nn/gemm_bf16.c through oneDNN).  unit.test_gemm_bf16 checks the GEMM
# against a double-precision product of the rounded operands; the _no_isa run caps oneDNN's
# ISA below AVX512_BF16 so the refusal is tested on this machine too.  cli.bf16 compares the
# bf16 encoders with the fp32 path and with torch on the real images and reports of
# tests/data (cosine >= 0.999 per row) and checks the CLI refusal.
add_test(NAME unit.test_gemm_bf16_no_isa COMMAND test_gemm_bf16)
set_tests_properties(unit.test_gemm_bf16_no_isa PROPERTIES
                     ENVIRONMENT "${ADAPTOR_TEST_ENV};ONEDNN_MAX_CPU_ISA=AVX512_CORE" LABELS unit)

add_test(NAME cli.bf16
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/bf16_check.py
                 $<TARGET_FILE:adaptor> ${VISION_REF_DIR} ${BERT_REF_DIR}
                 ${CMAKE_CURRENT_SOURCE_DIR}/data)
set_tests_properties(cli.bf16 PROPERTIES FIXTURES_REQUIRED "vision_ref;bert_ref"
                     ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)
