# libFuzzer targets for the data primitives (tests/fuzz/fuzz.h), built only
# with -DKUBELUA_FUZZ=ON and clang:
#   CC=clang cmake -S . -B build-fuzz -DKUBELUA_FUZZ=ON
#   cmake --build build-fuzz --target fuzz_json fuzz_yaml fuzz_base64
#   build-fuzz/fuzz_yaml -max_total_time=60 -max_len=4096 tests/fuzz/corpus/yaml
# Each target compiles the codec sources itself with the fuzzer's coverage,
# ASan and UBSan, so the rest of the build keeps its own flags.
option(KUBELUA_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(KUBELUA_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KUBELUA_FUZZ needs clang: CC=clang cmake -DKUBELUA_FUZZ=ON ...")
  endif()
  set(fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
                 -fno-omit-frame-pointer -g -O1)
  foreach(t json yaml base64)
    add_executable(fuzz_${t} ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_${t}.c
                   ${PROJECT_SOURCE_DIR}/host/kl_json.c
                   ${PROJECT_SOURCE_DIR}/host/kl_yaml.c
                   ${PROJECT_SOURCE_DIR}/host/kl_base64.c)
    target_include_directories(fuzz_${t} PRIVATE ${PROJECT_SOURCE_DIR}/host)
    target_link_libraries(fuzz_${t} PRIVATE PkgConfig::LUA PkgConfig::YAML m)
    target_compile_options(fuzz_${t} PRIVATE ${fuzz_flags} -Wall -Wextra)
    target_link_options(fuzz_${t} PRIVATE ${fuzz_flags})
  endforeach()
endif()
