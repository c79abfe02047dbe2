# The Slurm batch scripts (slurm/). slurm.submit: argument checks and what the submit helpers
# hand to sbatch, with stand-ins for sbatch/srun/adaptor (no Slurm needed). slurm.cluster: a
# sweep (job arrays) on a real single-node Slurm the test starts and stops; slurm.multinode:
# on a real 3-node Slurm on this machine (ranks over loopback TCP), the pipeline on -N 3 x 1 and
# -N 2 x 2 against 1-rank caches and 1-node weights and eval.nc, a pretrain signalled as at a
# time limit and requeued from 3 nodes onto 2, a node killed mid-run and resumed, and bad input
# (too many ranks, a folder one node does not share). Both skipped (status 77) where Slurm
# cannot run.
add_test(NAME slurm.submit
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/slurm/submit_check.py
                 ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/tmp/slurm_submit)
set_tests_properties(slurm.submit PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS slurm
                     TIMEOUT 120)

add_test(NAME slurm.cluster
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/slurm/slurm_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/slurm)
# One Slurm per test process, on private ports and directories; the lock keeps two Slurm
# tests of this build from sharing the two cores at once.
set_tests_properties(slurm.cluster PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "heavy;slurm" SKIP_RETURN_CODE 77 RESOURCE_LOCK adaptor_slurm
                     TIMEOUT 900)
add_test(NAME slurm.multinode
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/slurm/multinode_check.py
                 ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:adaptor> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/slurm_multinode)
# RUN_SERIAL: alone on the machine. Under ctest -j 2 beside other tests its ranks died more
# often inside Open MPI's MPI_Init (btl/tcp on a loaded machine, slurm/README.md). About 80 s
# idle; TIMEOUT 480 so that a hang cannot eat tests/run.sh's budget (it allows one retry).
set_tests_properties(slurm.multinode PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "heavy;slurm" SKIP_RETURN_CODE 77 RESOURCE_LOCK adaptor_slurm
                     RUN_SERIAL TRUE TIMEOUT 480)

# Requeue after SIGTERM / SIGUSR1 to pretrain.sbatch launching with Open MPI's mpirun (which
# exits 1, not 3, after a SIGTERM): the ranks' marker <run>/stopped decides. Real adaptor and
# mpirun, stand-in scontrol; no Slurm needed. `heavy`: not in the ASan build, where a step
# plus checkpoint outlasts the 1 s mpirun allows between passing TERM on and SIGKILL.
add_test(NAME slurm.requeue_mpirun
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/slurm/requeue_check.py
                 ${CMAKE_SOURCE_DIR} $<TARGET_FILE:adaptor> ${CMAKE_CURRENT_BINARY_DIR}/tmp/requeue)
set_tests_properties(slurm.requeue_mpirun PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}"
                     LABELS "slurm;mpi;heavy" TIMEOUT 900)
