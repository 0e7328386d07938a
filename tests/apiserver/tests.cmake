# kubesim unit tests: every tests/apiserver/test_*.py is one ctest (python3 unittest).
file(GLOB kubesim_unit_tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/apiserver/test_*.py)
foreach(f ${kubesim_unit_tests})
  get_filename_component(n ${f} NAME_WE)
  string(REGEX REPLACE "^test_" "" short ${n})
  add_test(NAME kubesim.${short}
           COMMAND /usr/bin/python3 -m unittest -v ${n}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/apiserver)
  # bytecode caches go to the build tree, not the sources
  set_tests_properties(kubesim.${short} PROPERTIES TIMEOUT 180 ENVIRONMENT "PYTHONPYCACHEPREFIX=${CMAKE_BINARY_DIR}/pycache")
endforeach()

# pyflakes over kubesim's own modules and tests, when python3-pyflakes is installed
execute_process(COMMAND /usr/bin/python3 -c "import pyflakes"
                RESULT_VARIABLE kubesim_no_pyflakes OUTPUT_QUIET ERROR_QUIET)
if(kubesim_no_pyflakes EQUAL 0)
  file(GLOB kubesim_py ${PROJECT_SOURCE_DIR}/tests/apiserver/kubesim_lib/*.py
                       ${PROJECT_SOURCE_DIR}/tests/apiserver/test_*.py
                       ${PROJECT_SOURCE_DIR}/tests/e2e/*_test.py)
  add_test(NAME kubesim.pyflakes COMMAND /usr/bin/python3 -m pyflakes ${kubesim_py})
  set_tests_properties(kubesim.pyflakes PROPERTIES TIMEOUT 60)
endif()
