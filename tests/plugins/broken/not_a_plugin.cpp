// Test-only: a valid shared object without the featjnd entry point.
extern "C" __attribute__((visibility("default"))) int some_other_library_function(void) { return 42; }
