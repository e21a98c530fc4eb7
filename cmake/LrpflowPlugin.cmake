# lrpflow_add_plugin(<name> SOURCES <files...> [LIBRARIES <libs...>])
#
# Builds an lrpflow plugin: a shared library linked to the lrpflow core, without the "lib" prefix,
# placed where the lrpflow binary looks for plugins. Works in the lrpflow tree and, through the
# installed CMake package (find_package(lrpflow)), in an out-of-tree project.
function(lrpflow_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "lrpflow_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE lrpflow::lrpflow ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED LRPFLOW_BUILD_PLUGIN_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${LRPFLOW_BUILD_PLUGIN_DIR}")
  endif()
  if(DEFINED LRPFLOW_INSTALL_PLUGIN_SUBDIR)
    install(TARGETS ${name} LIBRARY DESTINATION "${LRPFLOW_INSTALL_PLUGIN_SUBDIR}")
  endif()
endfunction()
