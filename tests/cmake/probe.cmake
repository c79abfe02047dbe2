# The probe and PCA MPI tests also run on one rank and on four (oversubscribed), so grids
# 1x1 and 2x2 and a rank outside a smaller grid are covered (tests/mpi runs them at 2 and 3).
foreach(t test_probe test_pca)
  foreach(np 1 4)
    add_test(NAME mpi.${t}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${MPIEXEC_FLAGS}
                     $<TARGET_FILE:${t}>)
    set_tests_properties(mpi.${t}.np${np} PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                         LABELS mpi TIMEOUT 600)
  endforeach()
endforeach()
