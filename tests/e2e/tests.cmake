# End-to-end tests: real clients (kubectl, python3-kubernetes, curl) against a fresh kubesim each,
# started and stopped by tests/with-kubesim (which also gives each test its own KUBECACHEDIR).
file(GLOB kubesim_e2e_sh CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/e2e/*_test.sh)
foreach(f ${kubesim_e2e_sh})
  get_filename_component(n ${f} NAME_WE)
  string(REGEX REPLACE "_test$" "" short ${n})
  add_test(NAME kubesim.e2e.${short}
           COMMAND ${BASH} ${PROJECT_SOURCE_DIR}/tests/with-kubesim ${BASH} ${f})
  set_tests_properties(kubesim.e2e.${short} PROPERTIES TIMEOUT 300)
endforeach()
file(GLOB kubesim_e2e_py CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/e2e/*_test.py)
foreach(f ${kubesim_e2e_py})
  get_filename_component(n ${f} NAME_WE)
  string(REGEX REPLACE "_test$" "" short ${n})
  add_test(NAME kubesim.e2e.${short}
           COMMAND ${BASH} ${PROJECT_SOURCE_DIR}/tests/with-kubesim /usr/bin/python3 ${f})
  set_tests_properties(kubesim.e2e.${short} PROPERTIES TIMEOUT 300)
endforeach()

find_program(SHELLCHECK shellcheck)
if(SHELLCHECK)
  add_test(NAME kubesim.shellcheck
           COMMAND ${SHELLCHECK} -S warning -x tests/with-kubesim ${kubesim_e2e_sh} tests/e2e/lib.sh
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(kubesim.shellcheck PROPERTIES TIMEOUT 60)
endif()
