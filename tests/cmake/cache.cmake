# Embedding caches and metrics.nc read back by an independent reader (Python netCDF4).
add_executable(cache_fixture_writer ${CMAKE_CURRENT_SOURCE_DIR}/ref/cache_fixture_writer.c)
target_link_libraries(cache_fixture_writer PRIVATE adaptor_lib)
add_test(NAME ref.cache_check
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ref/cache_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:cache_fixture_writer>)
set_tests_properties(ref.cache_check PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref
                     TIMEOUT 300)

# A full disk (small tmpfs mounts, root only; skipped with status 77 otherwise): embed ends
# on every rank with one line naming the file and ENOSPC, checkpoints and metrics.nc too;
# with [cache] writer = parallel also when the writes of one rank only fail (fail_write, an
# LD_PRELOAD shim), through the writer's watchdog.
add_executable(full_writer ${CMAKE_CURRENT_SOURCE_DIR}/fault/full_writer.c)
target_link_libraries(full_writer PRIVATE adaptor_lib)
add_library(fail_write MODULE ${CMAKE_CURRENT_SOURCE_DIR}/fault/fail_write.c)
target_link_libraries(fail_write PRIVATE ${CMAKE_DL_LIBS})
add_test(NAME fault.disk_full
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/fault/disk_full.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> $<TARGET_FILE:full_writer>
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/disk_full $<TARGET_FILE:fail_write>)
set_tests_properties(fault.disk_full PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;fault" SKIP_RETURN_CODE 77 TIMEOUT 180)
