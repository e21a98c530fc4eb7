# lrpflow_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds an lrpflow plugin: a shared library linked to the lrpflow core (lrpflow::core), without
# the "lib" prefix, placed where the lrpflow binary looks for plugins, compiled with lrpflow's
# warnings. A plugin links the domain libraries it uses itself: LIBRARIES lrpflow::lrp (models,
# rules, kernels), lrpflow::image, lrpflow::selection, lrpflow::visual, lrpflow::report. Works in
# the lrpflow tree and, through the installed CMake package (find_package(lrpflow)), out of tree.
if(NOT DEFINED LRPFLOW_WARNINGS)
  set(LRPFLOW_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
endif()
function(lrpflow_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "lrpflow_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE lrpflow::core ${ARG_LIBRARIES})
  target_compile_options(${name} PRIVATE ${LRPFLOW_WARNINGS})
  # Installed plugins live in <libdir>/lrpflow/plugins and find lrpflow's libraries two folders up
  # (or where they were linked from, out of tree).
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden
                        INSTALL_RPATH "$ORIGIN/../.." INSTALL_RPATH_USE_LINK_PATH ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED LRPFLOW_BUILD_PLUGIN_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${LRPFLOW_BUILD_PLUGIN_DIR}")
  endif()
  if(DEFINED LRPFLOW_INSTALL_PLUGIN_SUBDIR)
    install(TARGETS ${name} LIBRARY DESTINATION "${LRPFLOW_INSTALL_PLUGIN_SUBDIR}")
  endif()
endfunction()
