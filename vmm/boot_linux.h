/* Linux x86 boot protocol: bzImage (64-bit entry) and ELF vmlinux without a PVH note. */
#ifndef MICROVM_BOOT_LINUX_H
#define MICROVM_BOOT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "elf_loader.h"
#include "errors.h"
#include "vcpu.h"

struct vm;

/* What the setup header of a bzImage says, after validation. */
struct bzimage_info {
	uint16_t version;	  /* boot protocol version, >= 0x020C */
	uint32_t setup_size;	  /* bytes of real-mode setup before the 64-bit payload */
	uint64_t payload_size;	  /* protected-mode kernel bytes */
	uint64_t load_addr;	  /* where the payload goes */
	uint64_t init_size;	  /* memory the kernel needs from load_addr while booting */
	uint32_t initrd_addr_max; /* highest initrd byte address */
	uint32_t cmdline_size;	  /* longest command line, excluding NUL */
	uint32_t payload_offset;  /* compressed payload inside the protected-mode part */
	uint32_t payload_length;
};

/* Validate a bzImage's setup header for the 64-bit boot protocol (magic, version >= 2.12,
 * XLF_KERNEL_64, LOADED_HIGH, setup_sects, sizes, alignment) and choose its load address for
 * ram_low bytes of RAM below the MMIO hole. -ENOEXEC (not a usable bzImage) or -EFBIG. */
int bzimage_parse(const uint8_t *img, size_t len, uint64_t ram_low, struct bzimage_info *bi,
		  struct errbuf *err);

/* Load a bzImage (validated above; fd: the file img maps, or -1, see gmem_load_image), its
 * initrd, boot_params (setup header copied from the image, e820, command line, initrd, RSDP)
 * and the identity map; set a 64-bit entry. */
int boot_linux_bzimage(struct vm *vm, const uint8_t *img, size_t len, int fd,
		       struct vcpu_boot *boot, struct errbuf *err);

/* For an ELF vmlinux already loaded (no PVH note): boot_params built from scratch and a
 * 64-bit entry at its physical e_entry. */
int boot_linux_elf64(struct vm *vm, const struct elf_image *ei, struct vcpu_boot *boot,
		     struct errbuf *err);

/* Identity-map the first 4 GiB with 2 MiB pages at BOOT_PML4_ADDR (exposed for tests). */
int boot_identity_map(struct vm *vm);

#endif
