/* Unit tests for the ELF64 loader: header validation, PT_LOAD bounds, PVH note, copying. */
// SOURCES: vmm/elf_loader.c vmm/guest_mem.c vmm/errors.c
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/unit/unit.h"
#include "vmm/elf_loader.h"
#include "vmm/layout.h"

#define RAM (8 * MiB)

struct img {
	uint8_t b[4096];
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph; /* [0] PT_LOAD, [1] PT_NOTE */
};

/* A valid PVH image: one PT_LOAD of 64 bytes at 1 MiB (memsz 128), entry at 1 MiB + 16. */
static void make_img(struct img *im)
{
	Elf64_Nhdr nh = {.n_namesz = 4, .n_descsz = 4, .n_type = 18};
	uint32_t entry = 0x100010;

	memset(im->b, 0, sizeof(im->b));
	im->eh = (Elf64_Ehdr *)im->b;
	im->ph = (Elf64_Phdr *)(im->b + 64);
	memcpy(im->eh->e_ident, ELFMAG, SELFMAG);
	im->eh->e_ident[EI_CLASS] = ELFCLASS64;
	im->eh->e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh->e_ident[EI_VERSION] = EV_CURRENT;
	im->eh->e_type = ET_EXEC;
	im->eh->e_machine = EM_X86_64;
	im->eh->e_version = EV_CURRENT;
	im->eh->e_entry = 0x100000;
	im->eh->e_phoff = 64;
	im->eh->e_phentsize = sizeof(Elf64_Phdr);
	im->eh->e_phnum = 2;
	im->eh->e_ehsize = sizeof(Elf64_Ehdr);
	im->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				 .p_offset = 1024,
				 .p_vaddr = 0x100000,
				 .p_paddr = 0x100000,
				 .p_filesz = 64,
				 .p_memsz = 128};
	im->ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 512, .p_filesz = 20};
	memcpy(im->b + 512, &nh, sizeof(nh));
	memcpy(im->b + 512 + sizeof(nh), "Xen", 4);
	memcpy(im->b + 512 + sizeof(nh) + 4, &entry, 4);
	for (int i = 0; i < 64; i++)
		im->b[1024 + i] = (uint8_t)(0xA0 + i);
}

static struct guest_mem mem;

static int load(struct img *im, size_t len, struct elf_image *ei, struct errbuf *e)
{
	memset(e, 0, sizeof(*e));
	return elf_load(&mem, im->b, len, -1, ei, e);
}

static void test_valid_pvh(void)
{
	struct img im;
	struct elf_image ei;
	struct errbuf e;
	uint8_t *p = gmem_ptr(&mem, 0x100000, 128);

	make_img(&im);
	memset(p, 0xEE, 128);
	CHECK_EQ(load(&im, sizeof(im.b), &ei, &e), 0);
	CHECK(ei.has_pvh);
	CHECK_EQ(ei.pvh_entry, 0x100010);
	CHECK_EQ(ei.load_lo, 0x100000);
	CHECK_EQ(ei.load_hi, 0x100080);
	CHECK_EQ(p[0], 0xA0);
	CHECK_EQ(p[63], 0xA0 + 63);
	CHECK_EQ(p[64], 0); /* bss zeroed */
	CHECK_EQ(p[127], 0);
}

static void expect_fail(struct img *im, size_t len, int rc, const char *msg)
{
	struct elf_image ei;
	struct errbuf e;

	CHECK_EQ(load(im, len, &ei, &e), rc);
	CHECK_STR_CONTAINS(e.msg, msg);
}

static void test_header_errors(void)
{
	struct img im;

	make_img(&im);
	expect_fail(&im, 0, -ENOEXEC, "bad magic");
	expect_fail(&im, 30, -ENOEXEC, "truncated");
	im.b[0] = 'X';
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "bad magic");
	make_img(&im);
	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "ELFCLASS64");
	make_img(&im);
	im.eh->e_machine = EM_AARCH64;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "EM_X86_64");
	make_img(&im);
	im.eh->e_type = ET_REL;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "ET_EXEC");
	make_img(&im);
	im.eh->e_phnum = 0;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "e_phnum");
	make_img(&im);
	im.eh->e_phoff = 4090;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "beyond end");
	make_img(&im);
	im.eh->e_phoff = UINT64_MAX - 8;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "beyond end");
	make_img(&im);
	im.eh->e_phentsize = 40;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "e_phentsize");
}

static void test_load_errors(void)
{
	struct img im;

	make_img(&im);
	im.ph[0].p_offset = 4090;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "beyond end of file");
	make_img(&im);
	im.ph[0].p_offset = UINT64_MAX - 10;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "beyond end of file");
	make_img(&im);
	im.ph[0].p_filesz = 256;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "p_filesz > p_memsz");
	make_img(&im);
	im.ph[0].p_paddr = 0x7000;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "boot data");
	make_img(&im);
	im.ph[0].p_paddr = RAM - 64;
	expect_fail(&im, sizeof(im.b), -EFBIG, "outside guest RAM");
	make_img(&im);
	im.ph[0].p_paddr = UINT64_MAX - 64;
	expect_fail(&im, sizeof(im.b), -EFBIG, "overflows");
	make_img(&im);
	im.ph[0].p_paddr = MMIO_HOLE_START;
	expect_fail(&im, sizeof(im.b), -EFBIG, "outside guest RAM");
	make_img(&im);
	im.ph[0].p_type = PT_NULL;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "no PT_LOAD");
}

static void test_notes(void)
{
	struct img im;
	struct elf_image ei;
	struct errbuf e;
	uint32_t bad_entry = 0x300000;

	make_img(&im);
	memcpy(im.b + 512 + 16, &bad_entry, 4);
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "not inside any PT_LOAD");
	make_img(&im);
	im.ph[1].p_filesz = 14; /* truncated note */
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "note truncated");
	make_img(&im);
	im.ph[1].p_filesz = 8; /* shorter than a note header: ignored */
	CHECK_EQ(load(&im, sizeof(im.b), &ei, &e), 0);
	CHECK(!ei.has_pvh);
	make_img(&im);
	((Elf64_Nhdr *)(im.b + 512))->n_descsz = 1000;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "note truncated");
	make_img(&im);
	im.ph[1].p_offset = 5000;
	expect_fail(&im, sizeof(im.b), -ENOEXEC, "PT_NOTE beyond");
	/* No PVH note: the 64-bit entry is e_entry translated through the PT_LOAD. */
	make_img(&im);
	im.ph[1].p_type = PT_NULL;
	im.eh->e_entry = 0xFFFFFFFF81000020ULL;
	im.ph[0].p_vaddr = 0xFFFFFFFF81000000ULL;
	CHECK_EQ(load(&im, sizeof(im.b), &ei, &e), 0);
	CHECK(!ei.has_pvh);
	CHECK_EQ(ei.entry, 0x100020);
	/* Linux vmlinux: virtual p_vaddr, physical e_entry. */
	im.eh->e_entry = 0x100040;
	CHECK_EQ(load(&im, sizeof(im.b), &ei, &e), 0);
	CHECK_EQ(ei.entry, 0x100040);
}

/* A 1.5 MiB page-aligned segment is mapped from the file (copy-on-write), not copied. */
static void test_mapped_segment(void)
{
	size_t seg = 3 * 512 * 1024 + 100, flen = 4096 + seg;
	uint8_t *file = calloc(1, flen), *ram;
	struct img im;
	struct elf_image ei;
	struct errbuf e = {0};
	char path[] = "/tmp/microvm-elf-XXXXXX";
	int fd = mkstemp(path);
	struct guest_mem gm;

	make_img(&im);
	im.ph[0].p_offset = 4096;
	im.ph[0].p_filesz = seg;
	im.ph[0].p_memsz = seg + 8192; /* bss */
	memcpy(file, im.b, 1024);
	for (size_t i = 0; i < seg; i++)
		file[4096 + i] = (uint8_t)(i * 13 + 1);
	CHECK_EQ(write(fd, file, flen), (long)flen);
	ram = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ram, 0xEE, 8 * MiB); /* not fresh: the tail and bss must still come out zero */
	gmem_init(&gm, ram, 8 * MiB);
	CHECK_EQ(elf_load(&gm, file, flen, fd, &ei, &e), 0);
	CHECK(memcmp(ram + 0x100000, file + 4096, seg) == 0);
	CHECK_EQ(ram[0x100000 + seg], 0);	    /* rest of the last file page */
	CHECK_EQ(ram[0x100000 + seg + 8191], 0);    /* bss */
	CHECK_EQ(ram[0x100000 + seg + 8192], 0xEE); /* beyond memsz: untouched */
	ram[0x100000] ^= 0xFF;			    /* copy-on-write: the file keeps its byte */
	CHECK_EQ(pread(fd, file, 1, 4096), 1);
	CHECK_EQ(file[0], 1);
	munmap(ram, 8 * MiB);
	close(fd);
	unlink(path);
	free(file);
}

int main(void)
{
	void *ram = calloc(1, RAM);

	gmem_init(&mem, ram, RAM);
	RUN(test_valid_pvh);
	RUN(test_header_errors);
	RUN(test_load_errors);
	RUN(test_notes);
	RUN(test_mapped_segment);
	free(ram);
	return unit_summary("test_elf");
}
