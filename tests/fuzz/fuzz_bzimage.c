/* libFuzzer target: the bzImage setup-header parser and loader on arbitrary images. */
// SOURCES: vmm/boot.c vmm/boot_linux.c vmm/acpi.c vmm/aml.c vmm/mptable.c vmm/elf_loader.c vmm/guest_mem.c vmm/errors.c vmm/vm.c vmm/evloop.c tests/unit/fake_builtin.c
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot_linux.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm vm;
	static struct vm_config cfg = {.machine = {.mem_size_mib = 40}};
	struct bzimage_info bi;
	struct vcpu_boot boot;
	struct errbuf e;

	if (!vm.mem.host) {
		vm_init(&vm, &cfg);
		gmem_init(&vm.mem, calloc(1, 40 * MiB), 40 * MiB);
	}
	bzimage_parse(data, size, 40 * MiB, &bi, &e);
	boot_linux_bzimage(&vm, data, size, -1, &boot, &e);
	return 0;
}
