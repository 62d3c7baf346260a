/* Test double for the embedded firmware images (the real ones are linked from assembly). */
#include <stdint.h>

const uint8_t builtin_hello_start[1], builtin_hello_end[1];
const uint8_t builtin_selftest_start[1], builtin_selftest_end[1];
