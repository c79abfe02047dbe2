# Embedding caches and metrics.nc read back by an independent reader (Python netCDF4).
add_executable(cache_fixture_writer ${CMAKE_CURRENT_SOURCE_DIR}/ref/cache_fixture_writer.c)
target_link_libraries(cache_fixture_writer PRIVATE adaptor_lib)
add_test(NAME ref.cache_check
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/cache_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:cache_fixture_writer>)
set_tests_properties(ref.cache_check PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref
                     TIMEOUT 300)
