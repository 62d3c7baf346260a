/* The built-in guests: the one list the Makefile, the embedding assembly, boot and config read. */
#ifndef MICROVM_BUILTIN_IMAGES_H
#define MICROVM_BUILTIN_IMAGES_H

/* X(NAME) per image: firmware program NAME (firmware/firmware.mk), embedded from
 * build/firmware/NAME.elf between the symbols builtin_NAME_start and builtin_NAME_end
 * (vmm/builtin_images.S), booted by "builtin:NAME". The Makefile reads the names from this
 * line: keep it on one line. */
#define BUILTIN_IMAGES(X) X(hello) X(selftest)

#endif
