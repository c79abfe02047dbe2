# A user's build (-DADAPTOR_BUILD_TESTS=OFF, Check hidden), `cmake --install` into a temporary
# prefix, and the installed binary, Slurm script and analysis used on a small run from a
# folder outside the checkout (a full build of the library: heavy).
add_test(NAME cli.install
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/install_check.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/install-build ${MPIEXEC_EXECUTABLE}
                 "${CMAKE_C_COMPILER_LAUNCHER}")
set_tests_properties(cli.install PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "cli;mpi;heavy" TIMEOUT 1500)
