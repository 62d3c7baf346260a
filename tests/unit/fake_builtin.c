/* Test double for the embedded firmware images (the real ones are linked from assembly). */
#include <stdint.h>

#include "vmm/builtin_images.h"

#define FAKE_IMAGE(name) const uint8_t builtin_##name##_start[1], builtin_##name##_end[1];
BUILTIN_IMAGES(FAKE_IMAGE)
