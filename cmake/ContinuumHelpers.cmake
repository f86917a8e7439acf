# Helpers that keep every folder's CMakeLists.txt to a few declarative lines,
# in the manner of Abseil's absl_cc_library / absl_cc_test.

set(CONTINUUM_WARNINGS -Wall -Wextra)
if(CONTINUUM_WERROR)
  list(APPEND CONTINUUM_WARNINGS -Werror)
endif()

# continuum_cc_library(NAME name SRCS ... [HDRS ...] [DEPS ...] [PRIVATE_DEPS ...])
# Defines the static library continuum_<name> with the repository root on its
# include path, so headers are included as "lib/core/config.h".
function(continuum_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;HDRS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target continuum_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS} ${ARG_HDRS})
  target_include_directories(${target} PUBLIC "${PROJECT_SOURCE_DIR}")
  target_compile_options(${target} PRIVATE ${CONTINUUM_WARNINGS})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# continuum_cc_binary(NAME name SRCS ... [DEPS ...])
function(continuum_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PRIVATE "${PROJECT_SOURCE_DIR}")
  target_compile_options(${ARG_NAME} PRIVATE ${CONTINUUM_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()

# continuum_cc_test(NAME name SRCS ... [DEPS ...] [ARGS ...] [LABELS ...])
# A GoogleTest binary registered with CTest under its own name.
function(continuum_cc_test)
  if(NOT CONTINUUM_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;ARGS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  set_target_properties(${ARG_NAME} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/tests")
  target_include_directories(${ARG_NAME} PRIVATE "${PROJECT_SOURCE_DIR}")
  target_compile_options(${ARG_NAME} PRIVATE ${CONTINUUM_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest GTest::gtest_main)
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} ${ARG_ARGS})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  # A test that skips itself (GTEST_SKIP) shows as skipped in ctest's
  # summary, never as passed.
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
  if(ARG_LABELS)
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# continuum_proto_library(NAME target ROOT dir PROTOS files...
#                         [MESSAGES] [SERVICES] [DEPS targets...])
# Runs protoc (with the gRPC C++ plugin) on every .proto (paths relative to
# ROOT are the import paths) into one generated-code folder per ROOT, and
# builds part of the generated code as the static library `target`:
# MESSAGES the messages (x.pb.cc; links protobuf only), SERVICES the gRPC
# stubs and service bases (x.grpc.pb.cc; links grpc++), both when neither is
# named. Users include "a/b/c.pb.h" and "a/b/c.grpc.pb.h". A .proto's code
# may be split over two libraries (messages in one, services in another);
# DEPS names the libraries of the .protos it imports.
function(continuum_proto_library)
  cmake_parse_arguments(ARG "MESSAGES;SERVICES" "NAME;ROOT" "PROTOS;DEPS" ${ARGN})
  if(NOT ARG_MESSAGES AND NOT ARG_SERVICES)
    set(ARG_MESSAGES ON)
    set(ARG_SERVICES ON)
  endif()
  string(MD5 root_key "${ARG_ROOT}")
  set(gen_dir "${PROJECT_BINARY_DIR}/proto_gen/${root_key}")
  file(MAKE_DIRECTORY "${gen_dir}")
  get_target_property(grpc_cpp_plugin gRPC::grpc_cpp_plugin LOCATION)
  list(SORT ARG_PROTOS)
  set(srcs)
  set(hdrs)
  foreach(proto IN LISTS ARG_PROTOS)
    file(RELATIVE_PATH rel "${ARG_ROOT}" "${proto}")
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outs
      "${gen_dir}/${stem}.pb.cc" "${gen_dir}/${stem}.pb.h"
      "${gen_dir}/${stem}.grpc.pb.cc" "${gen_dir}/${stem}.grpc.pb.h")
    # One protoc command per .proto, however many libraries use its code.
    get_property(generated GLOBAL PROPERTY "continuum_proto_generated_${gen_dir}/${stem}")
    if(NOT generated)
      set_property(GLOBAL PROPERTY "continuum_proto_generated_${gen_dir}/${stem}" ON)
      add_custom_command(
        OUTPUT ${outs}
        COMMAND protobuf::protoc
          -I "${ARG_ROOT}"
          -I "${PROJECT_SOURCE_DIR}/protos"
          -I "${Protobuf_INCLUDE_DIRS}"
          --cpp_out "${gen_dir}"
          --grpc_out "${gen_dir}"
          --plugin=protoc-gen-grpc=${grpc_cpp_plugin}
          "${rel}"
        WORKING_DIRECTORY "${ARG_ROOT}"
        DEPENDS "${proto}" protobuf::protoc gRPC::grpc_cpp_plugin
        COMMENT "protoc ${rel}"
        VERBATIM)
    endif()
    if(ARG_MESSAGES)
      list(APPEND srcs "${gen_dir}/${stem}.pb.cc")
    endif()
    if(ARG_SERVICES)
      list(APPEND srcs "${gen_dir}/${stem}.grpc.pb.cc")
    endif()
    list(APPEND hdrs "${gen_dir}/${stem}.pb.h" "${gen_dir}/${stem}.grpc.pb.h")
  endforeach()
  # The code generated from one .proto includes the headers of those it
  # imports: generate every header before compiling any of it.
  add_custom_target(${ARG_NAME}_gen DEPENDS ${hdrs})
  foreach(dep IN LISTS ARG_DEPS)
    if(TARGET ${dep}_gen)
      add_dependencies(${ARG_NAME}_gen ${dep}_gen)
    endif()
  endforeach()
  add_library(${ARG_NAME} STATIC ${srcs})
  add_dependencies(${ARG_NAME} ${ARG_NAME}_gen)
  target_include_directories(${ARG_NAME} SYSTEM PUBLIC "${gen_dir}")
  target_link_libraries(${ARG_NAME} PUBLIC protobuf::libprotobuf ${ARG_DEPS})
  if(ARG_SERVICES)
    target_link_libraries(${ARG_NAME} PUBLIC gRPC::grpc++)
  endif()
  # Generated code is not ours to keep warning-clean.
  target_compile_options(${ARG_NAME} PRIVATE -w)
endfunction()
