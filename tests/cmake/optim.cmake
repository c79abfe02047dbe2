# Optimiser, schedules and checkpoints against PyTorch (tests/ref/*.py run with Debian's
# /usr/bin/python3, which has python3-torch and python3-numpy).
set(_optim_py /usr/bin/python3)
set(_optim_tmp ${CMAKE_CURRENT_BINARY_DIR}/tmp/optim)
file(MAKE_DIRECTORY ${_optim_tmp})

# torch.optim.AdamW + LambdaLR / CosineAnnealingWarmRestarts trajectories that
# unit.test_adamw compares against.
add_test(NAME ref.adamw_ref
         COMMAND ${_optim_py} ${CMAKE_CURRENT_SOURCE_DIR}/ref/adamw_ref.py ${_optim_tmp}/adamw_ref.txt)
set_tests_properties(ref.adamw_ref PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref
                     FIXTURES_SETUP optim_adamw_ref TIMEOUT 120)
set_tests_properties(unit.test_adamw PROPERTIES FIXTURES_REQUIRED optim_adamw_ref)

# unit.test_checkpoint leaves a checkpoint of the SPEC 5 layout in tmp/optim/torch_ckpt; torch
# loads it into the reference module with strict=True.
set_tests_properties(unit.test_checkpoint PROPERTIES FIXTURES_SETUP optim_ckpt)
add_test(NAME ref.checkpoint_check
         COMMAND ${_optim_py} ${CMAKE_CURRENT_SOURCE_DIR}/ref/checkpoint_check.py ${_optim_tmp}/torch_ckpt)
set_tests_properties(ref.checkpoint_check PROPERTIES ENVIRONMENT "${ADAPTOR_TEST_ENV}" LABELS ref
                     FIXTURES_REQUIRED optim_ckpt TIMEOUT 120)
