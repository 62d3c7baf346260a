/* The built-in guests (firmware ELF images), embedded read-only in the launcher. */
#include "builtin_images.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

/* builtin_NAME_start .. builtin_NAME_end: the bytes of FW_DIR/NAME.elf. */
#define EMBED(name)                                                                                \
	.balign 16;                                                                                \
	.globl builtin_##name##_start, builtin_##name##_end;                                       \
	builtin_##name##_start:                                                                    \
	.incbin STR(FW_DIR/name.elf);                                                              \
	builtin_##name##_end:

	.section .rodata.builtin, "a"
BUILTIN_IMAGES(EMBED)
	.section .note.GNU-stack, "", @progbits
