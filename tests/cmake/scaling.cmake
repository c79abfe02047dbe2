# bench_scaling builds and runs one tiny case (the benchmark itself is not part of ctest):
# 2 ranks, overlapped gradient all-reduce, and the collectives at two sizes.
add_test(NAME bench.scaling_step
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_FLAGS}
                 $<TARGET_FILE:bench_scaling> step --per-rank 4 --image-dim 16 --text-dim 16
                 --proj 32 --ffn 64 --layers 2 --reps 1 --overlap)
set_tests_properties(bench.scaling_step PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS mpi
                     TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "step ranks=2 b=4 G=8 overlap=1 comp=[0-9.]+ mpi_wall=[0-9.]+ grad_wall=[0-9.]+ window=[0-9.]+ comm_sync=[0-9.]+")
add_test(NAME bench.scaling_coll
         COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${MPIEXEC_FLAGS}
                 $<TARGET_FILE:bench_scaling> coll --reps 1 --max-mb 0.02)
set_tests_properties(bench.scaling_coll PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS mpi
                     TIMEOUT 300
                     PASS_REGULAR_EXPRESSION "coll op=allreduce ranks=2 bytes=16384 seconds=")
