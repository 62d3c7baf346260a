/* libFuzzer target: the ELF loader against arbitrary images, loading into a small guest RAM. */
// SOURCES: vmm/elf_loader.c vmm/guest_mem.c vmm/errors.c
#include <stdint.h>
#include <stdlib.h>

#include "vmm/elf_loader.h"
#include "vmm/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ram;
	static struct guest_mem mem;
	struct elf_image ei;
	struct errbuf e;

	if (!ram) {
		ram = calloc(1, 4 * MiB);
		gmem_init(&mem, ram, 4 * MiB);
	}
	elf_load(&mem, data, size, -1, &ei, &e);
	return 0;
}
