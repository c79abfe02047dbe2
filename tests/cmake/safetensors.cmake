# safetensors: an independent struct + json + numpy check of our reader and writer (through
# the small st_ref_tool program), and the `adaptor info` command on safetensors and netCDF.
add_executable(st_ref_tool ${CMAKE_CURRENT_SOURCE_DIR}/ref/st_ref_tool.c)
target_link_libraries(st_ref_tool PRIVATE adaptor_lib)

add_test(NAME ref.safetensors
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/safetensors_check.py
                 $<TARGET_FILE:st_ref_tool>)
set_tests_properties(ref.safetensors PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref)

add_test(NAME cli.info COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/info_cli_check.py)
set_tests_properties(cli.info PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS cli)
