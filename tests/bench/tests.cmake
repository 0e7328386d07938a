# The benchmarks' smoke run: every case runs once, quickly, and must reach
# the same end state for every peer (never a speed). tests/bench/run --quick
# takes about two minutes; the TIMEOUT leaves room on a loaded CI machine.
add_test(NAME bench.quick
         COMMAND ${PROJECT_SOURCE_DIR}/tests/bench/run --quick
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(bench.quick PROPERTIES
  TIMEOUT 300
  ENVIRONMENT "KUBELUA=$<TARGET_FILE:kubelua>"
  RUN_SERIAL TRUE)
