// A library whose static constructor ends the process with status 0 while it is being opened: the
// host must not let that pass for a successful run.
#include <cstdlib>

namespace {
__attribute__((constructor)) void exit_during_dlopen() { std::exit(0); }
}  // namespace
