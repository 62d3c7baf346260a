/* Linux x86 boot protocol (Documentation/arch/x86/boot.rst): bzImage setup-header validation,
 * boot_params construction and the 64-bit entry state. */
#include "boot_linux.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#include "boot.h"
#include "layout.h"
#include "vm.h"
#include "status.h"

#define SETUP_HDR_OFF	  0x1F1U
#define BZ_MIN_VERSION	  0x020CU /* 2.12: xloadflags, 64-bit entry */
#define BZ_DEFAULT_LOAD	  0x1000000ULL
#define BOOT_HEAP_END	  0xFE00U
#define LOADER_TYPE_OTHER 0xFFU

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int bz_check_magic(const uint8_t *img, size_t len, struct setup_header *h,
			  struct errbuf *err)
{
	size_t hdr_end;

	if (len < 0x264)
		return err_set(err, -ENOEXEC, "bzImage: file too small (%zu bytes)", len);
	if (rd16(img + 0x1FE) != 0xAA55 || memcmp(img + 0x202, "HdrS", 4) != 0)
		return err_set(err, -ENOEXEC, "bzImage: no boot sector signature / HdrS magic");
	/* The setup header ends where the 2-byte jump at 0x200 lands. */
	hdr_end = 0x202 + img[0x201];
	if (hdr_end > len)
		return err_set(err, -ENOEXEC, "bzImage: setup header beyond end of file");
	memset(h, 0, sizeof(*h));
	memcpy(h, img + SETUP_HDR_OFF,
	       hdr_end - SETUP_HDR_OFF < sizeof(*h) ? hdr_end - SETUP_HDR_OFF : sizeof(*h));
	if (h->version < BZ_MIN_VERSION)
		return err_set(err, -ENOEXEC,
			       "bzImage: boot protocol %u.%02u, need 2.12+ for the 64-bit entry",
			       h->version >> 8, h->version & 0xFF);
	if (!(h->xloadflags & XLF_KERNEL_64))
		return err_set(err, -ENOEXEC, "bzImage: no 64-bit entry (XLF_KERNEL_64 clear)");
	if (!(h->loadflags & LOADED_HIGH))
		return err_set(err, -ENOEXEC, "bzImage: zImage (not LOADED_HIGH) is not supported");
	return 0;
}

static int bz_choose_load(const struct setup_header *h, uint64_t ram_low, struct bzimage_info *bi,
			  struct errbuf *err)
{
	uint64_t align = h->kernel_alignment, at;

	if (align == 0 || (align & (align - 1)) != 0 || align > 1ULL << 30)
		return err_set(err, -ENOEXEC, "bzImage: kernel_alignment 0x%llx not a power of 2",
			       (unsigned long long)align);
	at = h->pref_address >= KERNEL_MIN_ADDR ? h->pref_address : BZ_DEFAULT_LOAD;
	if (h->relocatable_kernel)
		at = (at + align - 1) & ~(align - 1);
	else if (h->pref_address < KERNEL_MIN_ADDR)
		at = KERNEL_MIN_ADDR;
	bi->load_addr = at;
	bi->init_size = h->init_size > bi->payload_size ? h->init_size : bi->payload_size;
	if (bi->init_size > ram_low || at > ram_low - bi->init_size)
		return err_set(
		    err, -EFBIG,
		    "bzImage: kernel needs 0x%llx bytes at 0x%llx, more than the %llu MiB "
		    "of RAM below 3 GiB",
		    (unsigned long long)bi->init_size, (unsigned long long)at,
		    (unsigned long long)(ram_low / MiB));
	return 0;
}

int bzimage_parse(const uint8_t *img, size_t len, uint64_t ram_low, struct bzimage_info *bi,
		  struct errbuf *err)
{
	struct setup_header h;
	unsigned sects;
	int rc = bz_check_magic(img, len, &h, err);

	if (rc < 0)
		return rc;
	memset(bi, 0, sizeof(*bi));
	sects = h.setup_sects ? h.setup_sects : 4;
	bi->version = h.version;
	bi->setup_size = (sects + 1) * 512U;
	if (bi->setup_size >= len)
		return err_set(err, -ENOEXEC, "bzImage: setup_sects %u beyond end of file", sects);
	bi->payload_size = len - bi->setup_size;
	if ((uint64_t)h.syssize * 16 > bi->payload_size + 15)
		return err_set(err, -ENOEXEC, "bzImage: syssize says %llu bytes, file has %llu",
			       (unsigned long long)h.syssize * 16,
			       (unsigned long long)bi->payload_size);
	bi->initrd_addr_max = h.initrd_addr_max ? h.initrd_addr_max : 0x37FFFFFF;
	bi->cmdline_size = h.cmdline_size ? h.cmdline_size : 255;
	bi->payload_offset = h.payload_offset;
	bi->payload_length = h.payload_length;
	return bz_choose_load(&h, ram_low, bi, err);
}

int boot_identity_map(struct vm *vm)
{
	uint64_t pml4e = BOOT_PDPT_ADDR | 0x3, pdpte[4], pde;
	int rc = gmem_write(&vm->mem, BOOT_PML4_ADDR, &pml4e, sizeof(pml4e));

	for (unsigned i = 0; i < 4 && rc == 0; i++) {
		pdpte[i] = (BOOT_PD_ADDR + i * 0x1000ULL) | 0x3;
		for (unsigned j = 0; j < 512 && rc == 0; j++) {
			pde = ((uint64_t)(i * 512 + j) << 21) | 0x83; /* present, rw, 2 MiB */
			rc = gmem_write(&vm->mem, BOOT_PD_ADDR + i * 0x1000ULL + j * 8, &pde, 8);
		}
	}
	if (rc == 0)
		rc = gmem_write(&vm->mem, BOOT_PDPT_ADDR, pdpte, sizeof(pdpte));
	return rc;
}

/* Fill the parts of boot_params every Linux entry needs: loader type, command line, e820,
 * initrd, RSDP. hdr fields from the image (bzImage) must already be in bp->hdr. */
static int fill_boot_params(struct vm *vm, struct boot_params *bp, uint32_t cmdline_max,
			    uint64_t initrd_addr, uint64_t initrd_size, struct errbuf *err)
{
	struct boot_mem_range r[E820_MAX_ENTRIES_ZEROPAGE];
	unsigned n = boot_mem_map(vm, r, E820_MAX_ENTRIES_ZEROPAGE);

	if (vm->cmdline_len > cmdline_max)
		return err_class(err, STATUS_CONFIG,
				 err_set(err, -EINVAL,
					 "boot-source.boot_args: command line is %zu bytes, the "
					 "kernel accepts %u",
					 vm->cmdline_len, cmdline_max));
	bp->hdr.type_of_loader = LOADER_TYPE_OTHER;
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.loadflags &= (uint8_t)~KEEP_SEGMENTS;
	bp->hdr.heap_end_ptr = BOOT_HEAP_END - 0x200;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	bp->acpi_rsdp_addr = vm->rsdp_addr;
	bp->e820_entries = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		bp->e820_table[i] = (struct boot_e820_entry){r[i].addr, r[i].size, r[i].type};
	if (gmem_write(&vm->mem, BOOT_CMDLINE_ADDR, vm->cmdline, vm->cmdline_len + 1) < 0 ||
	    gmem_write(&vm->mem, BOOT_PARAMS_ADDR, bp, sizeof(*bp)) < 0 ||
	    boot_identity_map(vm) < 0)
		return err_set(err, -EFBIG, "guest RAM too small for the boot structures");
	return 0;
}

int boot_linux_bzimage(struct vm *vm, const uint8_t *img, size_t len, int fd,
		       struct vcpu_boot *boot, struct errbuf *err)
{
	static struct boot_params bp;
	struct bzimage_info bi;
	uint64_t initrd_addr, initrd_size, initrd_max;
	int rc = bzimage_parse(img, len, vm->mem.low_size, &bi, err);

	if (rc < 0)
		return rc;
	memset(&bp, 0, sizeof(bp));
	memcpy(&bp.hdr, img + SETUP_HDR_OFF, 0x202 + img[0x201] - SETUP_HDR_OFF);
	if (gmem_load_image(&vm->mem, bi.load_addr, img, bi.setup_size, bi.payload_size, fd) < 0)
		return err_set(err, -EFBIG, "bzImage: kernel does not fit in guest RAM");
	bp.hdr.code32_start = (uint32_t)bi.load_addr;
	initrd_max = (uint64_t)bi.initrd_addr_max + 1;
	if (bp.hdr.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)
		initrd_max = vm->mem.low_size; /* still keep it below the hole: simplest map */
	rc = boot_load_initrd(vm, bi.load_addr + bi.init_size, initrd_max, &initrd_addr,
			      &initrd_size, err);
	if (rc < 0)
		return rc;
	rc = fill_boot_params(vm, &bp, bi.cmdline_size, initrd_addr, initrd_size, err);
	if (rc < 0)
		return rc;
	boot->mode = VCPU_BOOT_LINUX64;
	boot->entry = bi.load_addr + 0x200;
	boot->rsi = BOOT_PARAMS_ADDR;
	return 0;
}

int boot_linux_elf64(struct vm *vm, const struct elf_image *ei, struct vcpu_boot *boot,
		     struct errbuf *err)
{
	static struct boot_params bp;
	uint64_t initrd_addr, initrd_size;
	int rc;

	memset(&bp, 0, sizeof(bp));
	bp.hdr.boot_flag = 0xAA55;
	bp.hdr.header = 0x53726448; /* "HdrS" */
	bp.hdr.version = BZ_MIN_VERSION;
	bp.hdr.kernel_alignment = 0x1000000;
	bp.hdr.cmdline_size = BOOT_CMDLINE_MAX - 1;
	bp.hdr.loadflags = LOADED_HIGH;
	rc = boot_load_initrd(vm, ei->load_hi, vm->mem.low_size, &initrd_addr, &initrd_size, err);
	if (rc < 0)
		return rc;
	rc = fill_boot_params(vm, &bp, BOOT_CMDLINE_MAX - 1, initrd_addr, initrd_size, err);
	if (rc < 0)
		return rc;
	boot->mode = VCPU_BOOT_LINUX64;
	boot->entry = ei->entry;
	boot->rsi = BOOT_PARAMS_ADDR;
	return 0;
}
