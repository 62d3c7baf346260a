/* Unit tests for boot structures: e820/PVH memory map, PVH start_info, bzImage header checks,
 * boot_params for bzImage and ELF entries, initrd placement, identity map. */
// SOURCES: vmm/boot.c vmm/boot_linux.c vmm/acpi.c vmm/aml.c vmm/mptable.c vmm/elf_loader.c vmm/guest_mem.c vmm/errors.c vmm/vm.c vmm/evloop.c tests/unit/fake_builtin.c
#include <asm/bootparam.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vmm/boot.h"
#include "vmm/boot_linux.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

static struct vm vm;
static struct vm_config cfg;

static void setup_vm(uint64_t ram)
{
	void *host = calloc(1, ram);

	memset(&cfg, 0, sizeof(cfg));
	cfg.machine.mem_size_mib = ram / MiB;
	vm_init(&vm, &cfg);
	gmem_init(&vm.mem, host, ram);
	vm_cmdline_append(&vm, "console=ttyS0 root=/dev/vda");
}

static void teardown_vm(void)
{
	free(vm.mem.host);
}

static void test_mem_map(void)
{
	struct boot_mem_range r[8];
	unsigned n;

	setup_vm(64 * MiB);
	n = boot_mem_map(&vm, r, 8);
	CHECK_EQ(n, 3);
	CHECK_EQ(r[0].addr, 0);
	CHECK_EQ(r[0].size, 0x9FC00);
	CHECK_EQ(r[0].type, 1);
	CHECK_EQ(r[1].addr, 0x9FC00);
	CHECK_EQ(r[1].type, 2);
	CHECK_EQ(r[1].addr + r[1].size, 0x100000);
	CHECK_EQ(r[2].addr, 0x100000);
	CHECK_EQ(r[2].size, 63 * MiB);
	teardown_vm();
	/* Above the hole: 3 GiB below, the rest at 4 GiB. Only describe it (no allocation). */
	gmem_init(&vm.mem, NULL, 5 * GiB);
	n = boot_mem_map(&vm, r, 8);
	CHECK_EQ(n, 4);
	CHECK_EQ(r[2].addr + r[2].size, MMIO_HOLE_START);
	CHECK_EQ(r[3].addr, MMIO_HOLE_END);
	CHECK_EQ(r[3].size, 2 * GiB);
}

static void test_pvh_start_info(void)
{
	struct vcpu_boot boot = {0};
	uint32_t u32;
	uint64_t u64;
	uint8_t *si;

	setup_vm(64 * MiB);
	vm.rsdp_addr = 0xE0000;
	CHECK_EQ(boot_pvh_setup(&vm, 0x3000000, 4096, &boot), 0);
	CHECK_EQ(boot.rbx, BOOT_START_INFO);
	si = gmem_ptr(&vm.mem, BOOT_START_INFO, 56);
	memcpy(&u32, si, 4);
	CHECK_EQ(u32, 0x336ec578);
	memcpy(&u32, si + 12, 4); /* nr_modules */
	CHECK_EQ(u32, 1);
	memcpy(&u64, si + 24, 8); /* cmdline_paddr */
	CHECK_EQ(u64, BOOT_CMDLINE_ADDR);
	memcpy(&u64, si + 32, 8); /* rsdp_paddr */
	CHECK_EQ(u64, 0xE0000);
	memcpy(&u32, si + 48, 4); /* memmap_entries */
	CHECK_EQ(u32, 3);
	CHECK(strcmp((char *)gmem_ptr(&vm.mem, BOOT_CMDLINE_ADDR, 1),
		     "console=ttyS0 root=/dev/vda") == 0);
	memcpy(&u64, gmem_ptr(&vm.mem, BOOT_MODLIST_ADDR, 16), 8);
	CHECK_EQ(u64, 0x3000000);
	teardown_vm();
}

/* A synthetic bzImage: 5 setup sectors (4 + boot sector) then a 64 KiB payload. */
static uint8_t *make_bzimage(size_t *len)
{
	size_t n = 5 * 512 + 65536;
	uint8_t *b = calloc(1, n);
	struct setup_header h = {0};

	h.setup_sects = 4;
	h.boot_flag = 0xAA55;
	h.jump = 0x66EB; /* jmp to 0x268: header length byte 0x66 */
	h.header = 0x53726448;
	h.version = 0x020F;
	h.loadflags = LOADED_HIGH;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7FFFFFFF;
	h.pref_address = 0x1000000;
	h.init_size = 0x400000;
	h.syssize = 65536 / 16;
	memcpy(b + 0x1F1, &h, sizeof(h));
	for (size_t i = 0; i < 65536; i++)
		b[5 * 512 + i] = (uint8_t)(i * 7);
	*len = n;
	return b;
}

static void expect_bz_error(uint8_t *b, size_t len, int rc, const char *msg)
{
	struct bzimage_info bi;
	struct errbuf e = {0};

	CHECK_EQ(bzimage_parse(b, len, 256 * MiB, &bi, &e), rc);
	CHECK_STR_CONTAINS(e.msg, msg);
}

static void test_bzimage_parse(void)
{
	size_t len;
	uint8_t *b = make_bzimage(&len);
	struct bzimage_info bi;
	struct errbuf e = {0};
	struct setup_header *h = (struct setup_header *)(b + 0x1F1);

	CHECK_EQ(bzimage_parse(b, len, 256 * MiB, &bi, &e), 0);
	CHECK_EQ(bi.setup_size, 5 * 512);
	CHECK_EQ(bi.payload_size, 65536);
	CHECK_EQ(bi.load_addr, 0x1000000);
	CHECK_EQ(bi.init_size, 0x400000);
	CHECK_EQ(bi.cmdline_size, 2047);
	expect_bz_error(b, 0x200, -ENOEXEC, "too small");
	expect_bz_error(b, 5 * 512 + 100, -ENOEXEC, "syssize");
	CHECK_EQ(bzimage_parse(b, len, 16 * MiB, &bi, &e), -EFBIG);
	CHECK_STR_CONTAINS(e.msg, "more than the 16 MiB");
	h->version = 0x020A;
	expect_bz_error(b, len, -ENOEXEC, "need 2.12+");
	h->version = 0x020F;
	h->xloadflags = 0;
	expect_bz_error(b, len, -ENOEXEC, "XLF_KERNEL_64");
	h->xloadflags = XLF_KERNEL_64;
	h->loadflags = 0;
	expect_bz_error(b, len, -ENOEXEC, "zImage");
	h->loadflags = LOADED_HIGH;
	h->kernel_alignment = 0x300000;
	expect_bz_error(b, len, -ENOEXEC, "power of 2");
	h->kernel_alignment = 0x200000;
	h->setup_sects = 200;
	expect_bz_error(b, len, -ENOEXEC, "setup_sects");
	h->setup_sects = 4;
	h->header = 0;
	expect_bz_error(b, len, -ENOEXEC, "HdrS");
	h->header = 0x53726448;
	h->pref_address = 0x1100000; /* relocatable: rounded up to the alignment */
	CHECK_EQ(bzimage_parse(b, len, 256 * MiB, &bi, &e), 0);
	CHECK_EQ(bi.load_addr, 0x1200000);
	free(b);
}

static void test_bzimage_boot_params(void)
{
	size_t len;
	uint8_t *b = make_bzimage(&len);
	struct vcpu_boot boot = {0};
	struct errbuf e = {0};
	struct boot_params *bp;
	uint64_t pde;

	setup_vm(64 * MiB);
	vm.rsdp_addr = 0xE0000;
	CHECK_EQ(boot_linux_bzimage(&vm, b, len, -1, &boot, &e), 0);
	CHECK_EQ(boot.mode, VCPU_BOOT_LINUX64);
	CHECK_EQ(boot.entry, 0x1000200);
	CHECK_EQ(boot.rsi, BOOT_PARAMS_ADDR);
	CHECK(memcmp(gmem_ptr(&vm.mem, 0x1000000, 65536), b + 5 * 512, 65536) == 0);
	bp = gmem_ptr(&vm.mem, BOOT_PARAMS_ADDR, sizeof(*bp));
	CHECK_EQ(bp->hdr.type_of_loader, 0xFF);
	CHECK_EQ(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	CHECK_EQ(bp->hdr.boot_flag, 0xAA55);
	CHECK_EQ(bp->hdr.version, 0x020F);
	CHECK_EQ(bp->hdr.code32_start, 0x1000000);
	CHECK(bp->hdr.loadflags & CAN_USE_HEAP);
	CHECK_EQ(bp->hdr.ramdisk_size, 0);
	CHECK_EQ(bp->acpi_rsdp_addr, 0xE0000);
	CHECK_EQ(bp->e820_entries, 3);
	CHECK_EQ(bp->e820_table[2].addr, 0x100000);
	CHECK_EQ(bp->e820_table[2].size, 63 * MiB);
	CHECK_EQ(bp->e820_table[2].type, 1);
	/* Identity map: PD entry 511 of the 4th PD maps 0xFFE00000 as a 2 MiB page. */
	memcpy(&pde, gmem_ptr(&vm.mem, BOOT_PD_ADDR + 3 * 4096 + 511 * 8, 8), 8);
	CHECK_EQ(pde, 0xFFE00000ULL | 0x83);
	teardown_vm();
	free(b);
}

/* Device arguments go before the init's arguments ("--" and what follows), never after. */
static void test_cmdline_init_args(void)
{
	static const struct {
		const char *boot_args, *want;
	} cases[] = {
	    {"", "dev=1 dev=2"},
	    {"console=ttyS0", "console=ttyS0 dev=1 dev=2"},
	    {"console=ttyS0 -- /bin/sh -c \"a -- b\"",
	     "console=ttyS0 dev=1 dev=2 -- /bin/sh -c \"a -- b\""},
	    {"-- /bin/true", "dev=1 dev=2 -- /bin/true"},
	    {"a --", "a dev=1 dev=2 --"},
	    {"a --x b", "a --x b dev=1 dev=2"},
	    {"a x-- b", "a x-- b dev=1 dev=2"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&vm, 0, sizeof(vm));
		CHECK_EQ(vm_cmdline_append(&vm, cases[i].boot_args), 0);
		CHECK_EQ(vm_cmdline_append(&vm, "dev=1"), 0);
		CHECK_EQ(vm_cmdline_append(&vm, "dev=2"), 0);
		CHECK(strcmp(vm.cmdline, cases[i].want) == 0);
		CHECK_EQ(vm.cmdline_len, strlen(cases[i].want));
	}
	memset(&vm, 0, sizeof(vm));
	memset(vm.cmdline, 'x', sizeof(vm.cmdline) - 3);
	memcpy(vm.cmdline, "-- ", 3);
	vm.cmdline_len = sizeof(vm.cmdline) - 3;
	CHECK_EQ(vm_cmdline_append(&vm, "a"), 0); /* exactly fills it, NUL included */
	CHECK_EQ(vm.cmdline_len, sizeof(vm.cmdline) - 1);
	CHECK_EQ(vm_cmdline_append(&vm, "a"), -E2BIG);
}

static void test_cmdline_too_long(void)
{
	size_t len;
	uint8_t *b = make_bzimage(&len);
	struct vcpu_boot boot = {0};
	struct errbuf e = {0};
	char arg[300];

	((struct setup_header *)(b + 0x1F1))->cmdline_size = 64;
	setup_vm(64 * MiB);
	memset(arg, 'x', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = 0;
	vm_cmdline_append(&vm, arg);
	CHECK_EQ(boot_linux_bzimage(&vm, b, len, -1, &boot, &e), -EINVAL);
	CHECK_STR_CONTAINS(e.msg, "the kernel accepts 64");
	teardown_vm();
	free(b);
}

static void test_initrd_placement(void)
{
	char path[] = "/tmp/microvm-initrd-XXXXXX";
	int fd = mkstemp(path);
	uint8_t data[10000];
	uint64_t addr, size;
	struct errbuf e = {0};

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5A);
	CHECK_EQ(write(fd, data, sizeof(data)), (long)sizeof(data));
	close(fd);
	setup_vm(64 * MiB);
	cfg.boot.initrd_path = path;
	CHECK_EQ(boot_load_initrd(&vm, 0x2000000, vm.mem.low_size, &addr, &size, &e), 0);
	CHECK_EQ(size, sizeof(data));
	CHECK_EQ(addr % 4096, 0);
	CHECK_EQ(addr, (64 * MiB - sizeof(data)) & ~0xFFFULL);
	CHECK(memcmp(gmem_ptr(&vm.mem, addr, size), data, size) == 0);
	/* Below an initrd_addr_max lower than RAM. */
	CHECK_EQ(boot_load_initrd(&vm, 0x2000000, 48 * MiB, &addr, &size, &e), 0);
	CHECK(addr + size <= 48 * MiB);
	/* Does not fit above the kernel. */
	CHECK_EQ(boot_load_initrd(&vm, 64 * MiB - 4096, vm.mem.low_size, &addr, &size, &e), -EFBIG);
	CHECK_STR_CONTAINS(e.msg, "does not fit");
	cfg.boot.initrd_path = "/nonexistent/initrd";
	CHECK_EQ(boot_load_initrd(&vm, 0, vm.mem.low_size, &addr, &size, &e), -ENOENT);
	CHECK_STR_CONTAINS(e.msg, "boot-source.initrd_path: /nonexistent/initrd");
	cfg.boot.initrd_path = "/tmp";
	CHECK_EQ(boot_load_initrd(&vm, 0, vm.mem.low_size, &addr, &size, &e), -EISDIR);
	cfg.boot.initrd_path = NULL;
	teardown_vm();
	unlink(path);
}

static void test_elf64_boot_params(void)
{
	struct elf_image ei = {.entry = 0x1000000, .load_lo = 0x1000000, .load_hi = 0x1800000};
	struct vcpu_boot boot = {0};
	struct errbuf e = {0};
	struct boot_params *bp;

	setup_vm(64 * MiB);
	CHECK_EQ(boot_linux_elf64(&vm, &ei, &boot, &e), 0);
	CHECK_EQ(boot.entry, 0x1000000);
	CHECK_EQ(boot.mode, VCPU_BOOT_LINUX64);
	bp = gmem_ptr(&vm.mem, BOOT_PARAMS_ADDR, sizeof(*bp));
	CHECK_EQ(bp->hdr.header, 0x53726448);
	CHECK_EQ(bp->hdr.boot_flag, 0xAA55);
	CHECK_EQ(bp->hdr.type_of_loader, 0xFF);
	CHECK_EQ(bp->e820_entries, 3);
	teardown_vm();
}

int main(void)
{
	RUN(test_mem_map);
	RUN(test_pvh_start_info);
	RUN(test_bzimage_parse);
	RUN(test_bzimage_boot_params);
	RUN(test_cmdline_init_args);
	RUN(test_cmdline_too_long);
	RUN(test_initrd_placement);
	RUN(test_elf64_boot_params);
	return unit_summary("test_boot");
}
