# camfleet_library(NAME SOURCES ... DEPS ...): one static library per folder,
# named camfleet_<name> with the alias camfleet::<name>.
function(camfleet_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(camfleet_${name} STATIC ${ARG_SOURCES})
  add_library(camfleet::${name} ALIAS camfleet_${name})
  target_include_directories(camfleet_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(camfleet_${name} PUBLIC ${ARG_DEPS} PRIVATE camfleet::warnings)
endfunction()

# camfleet_embed_sql(OUT_VAR DIR NAMESPACE): turns every NNNN_name.sql in DIR into a
# generated .cc that defines `const std::vector<Migration>& Migrations()` in NAMESPACE,
# so migrations ship inside the binary.
function(camfleet_embed_migrations out_var dir namespace)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/[0-9][0-9][0-9][0-9]_*.sql)
  list(SORT sql_files)
  string(MAKE_C_IDENTIFIER "${namespace}" ns_id)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${ns_id}_migrations.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${namespace}
            -DDIR=${dir} -P ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    DEPENDS ${sql_files} ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    COMMENT "Embedding SQL migrations for ${namespace}")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()

# camfleet_test(NAME SOURCES ... DEPS ... LABELS ... TIMEOUT seconds): one GoogleTest
# binary registered with ctest, with a timeout and labels (unit, integration, crash).
function(camfleet_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} camfleet::testing GTest::gmock_main
                                        camfleet::warnings)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
