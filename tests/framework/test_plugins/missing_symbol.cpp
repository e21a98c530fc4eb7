// A shared library that needs a symbol nobody defines: dlopen(RTLD_NOW) fails.
extern "C" int lrpflow_test_symbol_that_does_not_exist();
extern "C" int missing_symbol_answer() { return lrpflow_test_symbol_that_does_not_exist(); }
