# `cmake --install BUILD --prefix PREFIX`:
#   PREFIX/bin/adaptor, PREFIX/bin/adaptor-analysis (python3 -m analysis on the installed package)
#   PREFIX/share/adaptor/{jobs,slurm,analysis}
# Everything is found relative to the executable or script itself, so the tree can be moved
# (or installed with DESTDIR) after the build.
include(GNUInstallDirs)
set(ADAPTOR_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/adaptor)

install(TARGETS adaptor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# demo.sh builds from a checkout, so only the job files are installed.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/jobs/ DESTINATION ${ADAPTOR_SHARE_DIR}/jobs
        FILES_MATCHING PATTERN "*.ini")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/slurm/ DESTINATION ${ADAPTOR_SHARE_DIR}/slurm
        USE_SOURCE_PERMISSIONS)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/analysis DESTINATION ${ADAPTOR_SHARE_DIR}
        FILES_MATCHING PATTERN "*.py")

# The wrapper finds the package from its own location: share/adaptor relative to bin/.
file(RELATIVE_PATH ADAPTOR_BIN_TO_SHARE
     ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR} ${CMAKE_INSTALL_PREFIX}/${ADAPTOR_SHARE_DIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/adaptor-analysis.in
               ${CMAKE_BINARY_DIR}/adaptor-analysis @ONLY)
install(PROGRAMS ${CMAKE_BINARY_DIR}/adaptor-analysis DESTINATION ${CMAKE_INSTALL_BINDIR})
