# kubesim unit tests: every tests/apiserver/test_*.py is one ctest (python3 unittest).
file(GLOB kubesim_unit_tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/apiserver/test_*.py)
foreach(f ${kubesim_unit_tests})
  get_filename_component(n ${f} NAME_WE)
  string(REGEX REPLACE "^test_" "" short ${n})
  add_test(NAME kubesim.${short}
           COMMAND /usr/bin/python3 -m unittest -v ${n}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/apiserver)
  set_tests_properties(kubesim.${short} PROPERTIES TIMEOUT 180)
endforeach()
