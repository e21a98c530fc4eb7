// A shared library without the lrpflow entry point.
extern "C" int not_a_plugin_answer() { return 42; }
