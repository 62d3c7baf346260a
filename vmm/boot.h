/* Boot: load the kernel or built-in firmware and initrd, write the boot-protocol structures. */
#ifndef MICROVM_BOOT_H
#define MICROVM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "vcpu.h"

struct vm;

/* Default command line for Linux kernels when boot-source.boot_args is absent. */
#define BOOT_DEFAULT_LINUX_ARGS                                                                    \
	"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp "              \
	"i8042.dumbkbd"

/* Load the configured image (file or built-in) and initrd into guest RAM and prepare the
 * BSP's boot state. The command line (vm->cmdline) must be complete before this is called.
 * Errors: -ENOENT/-EACCES/-EISDIR (file), -ENOEXEC (format), -EFBIG (does not fit in RAM). */
int boot_load(struct vm *vm, struct vcpu_boot *boot, struct errbuf *err);

/* Write PVH hvm_start_info, memory map, command line and module list (initrd at
 * initrd_addr/initrd_size, size 0 for none); sets boot->rbx. Exposed for unit tests. */
int boot_pvh_setup(struct vm *vm, uint64_t initrd_addr, uint64_t initrd_size,
		   struct vcpu_boot *boot);

/* The e820-style RAM map shared by PVH and Linux boot: fills up to max entries
 * {addr, size, type (1 RAM, 2 reserved)}; returns the count. */
struct boot_mem_range {
	uint64_t addr, size;
	uint32_t type;
};
unsigned boot_mem_map(const struct vm *vm, struct boot_mem_range *out, unsigned max);

/* Read boot-source.initrd_path (if set) page-aligned at the top of RAM below max_end, above
 * kernel_end; *size 0 when there is no initrd. */
int boot_load_initrd(struct vm *vm, uint64_t kernel_end, uint64_t max_end, uint64_t *addr,
		     uint64_t *size, struct errbuf *err);

/* Built-in firmware images embedded in the binary. NULL if name is unknown. */
const uint8_t *builtin_image(const char *name, size_t *len);

#endif
