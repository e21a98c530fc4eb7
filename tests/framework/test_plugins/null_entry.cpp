// A library that exports the plugin entry symbol with a null value: the host must skip it with a
// warning instead of calling through the null pointer.
extern "C" {
__attribute__((visibility("default"))) const void* lrpflow_plugin_info = nullptr;
}
