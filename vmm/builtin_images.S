/* The built-in guests (firmware ELF images), embedded read-only in the launcher. */
	.section .rodata.builtin, "a"
	.balign 16
	.globl builtin_hello_start, builtin_hello_end
builtin_hello_start:
	.incbin "build/firmware/hello.elf"
builtin_hello_end:
	.balign 16
	.globl builtin_selftest_start, builtin_selftest_end
builtin_selftest_start:
	.incbin "build/firmware/selftest.elf"
builtin_selftest_end:
	.section .note.GNU-stack, "", @progbits
