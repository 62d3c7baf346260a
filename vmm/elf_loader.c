/* ELF64 loader for PVH and 64-bit kernels and for the firmware images. */
#include "elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHNUM		 128

static int check_ehdr(const Elf64_Ehdr *eh, size_t len, struct errbuf *err)
{
	if (len < EI_NIDENT || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return err_set(err, -ENOEXEC, "not an ELF file (bad magic)");
	if (len < sizeof(*eh))
		return err_set(err, -ENOEXEC, "ELF header truncated (%zu bytes)", len);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(err, -ENOEXEC, "ELF class %u, expected ELFCLASS64 (x86-64)",
			       eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return err_set(err, -ENOEXEC, "ELF is not little-endian");
	if (eh->e_machine != EM_X86_64)
		return err_set(err, -ENOEXEC, "ELF machine %u, expected EM_X86_64 (62)",
			       eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return err_set(err, -ENOEXEC, "ELF type %u, expected ET_EXEC", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return err_set(err, -ENOEXEC, "ELF e_phentsize %u, expected %zu", eh->e_phentsize,
			       sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHNUM)
		return err_set(err, -ENOEXEC, "ELF e_phnum %u out of range 1..%d", eh->e_phnum,
			       ELF_MAX_PHNUM);
	if (eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return err_set(err, -ENOEXEC, "ELF program headers beyond end of file");
	return 0;
}

/* Scan one PT_NOTE for the Xen PVH entry note. */
static int scan_notes(const uint8_t *img, const Elf64_Phdr *ph, struct elf_image *out,
		      struct errbuf *err)
{
	uint64_t off = 0, size = ph->p_filesz;
	const uint8_t *p = img + ph->p_offset;

	while (size - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz;

		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		if (name_sz > size - off || desc_sz > size - off - name_sz)
			return err_set(err, -ENOEXEC, "ELF note truncated");
		if (nh.n_namesz == 4 && memcmp(p + off, "Xen", 4) == 0 &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint32_t e32 = 0;
			uint64_t e64 = 0;

			if (nh.n_descsz == 4) {
				memcpy(&e32, p + off + name_sz, 4);
				e64 = e32;
			} else if (nh.n_descsz == 8) {
				memcpy(&e64, p + off + name_sz, 8);
			} else {
				return err_set(err, -ENOEXEC, "PVH entry note has size %u",
					       nh.n_descsz);
			}
			if (e64 > 0xFFFFFFFFULL)
				return err_set(err, -ENOEXEC, "PVH entry 0x%llx above 4 GiB",
					       (unsigned long long)e64);
			out->has_pvh = true;
			out->pvh_entry = e64;
		}
		off += name_sz + desc_sz;
	}
	return 0;
}

static int check_load(const struct guest_mem *m, const Elf64_Phdr *ph, unsigned i, size_t len,
		      struct errbuf *err)
{
	unsigned long long lo = ph->p_paddr, hi = ph->p_paddr + ph->p_memsz;

	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
		return err_set(err, -ENOEXEC, "PT_LOAD[%u] file range beyond end of file", i);
	if (ph->p_filesz > ph->p_memsz)
		return err_set(err, -ENOEXEC, "PT_LOAD[%u] p_filesz > p_memsz", i);
	if (hi < lo)
		return err_set(err, -EFBIG, "PT_LOAD[%u] address range overflows", i);
	if (lo < KERNEL_MIN_ADDR)
		return err_set(err, -ENOEXEC,
			       "PT_LOAD[%u] at 0x%llx-0x%llx overlaps the boot data below 0x%llx",
			       i, lo, hi, KERNEL_MIN_ADDR);
	if (m && !gmem_ptr(m, lo, ph->p_memsz))
		return err_set(err, -EFBIG,
			       "PT_LOAD[%u] at 0x%llx-0x%llx is outside guest RAM (%llu MiB)", i,
			       lo, hi, (unsigned long long)(m->ram_size / MiB));
	return 0;
}

static bool in_load(const Elf64_Phdr *ph, uint64_t addr, bool physical)
{
	uint64_t base = physical ? ph->p_paddr : ph->p_vaddr;

	return ph->p_type == PT_LOAD && addr >= base && addr - base < ph->p_memsz;
}

static int resolve_entry(const Elf64_Ehdr *eh, const Elf64_Phdr *phs, struct elf_image *out,
			 struct errbuf *err)
{
	bool pvh_ok = false, entry_ok = false;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (out->has_pvh && in_load(&phs[i], out->pvh_entry, true))
			pvh_ok = true;
		if (!entry_ok && in_load(&phs[i], eh->e_entry, false)) {
			out->entry = eh->e_entry - phs[i].p_vaddr + phs[i].p_paddr;
			entry_ok = true;
		}
	}
	/* Linux's vmlinux gives a physical e_entry (startup_64) with virtual p_vaddrs. */
	for (unsigned i = 0; i < eh->e_phnum && !entry_ok; i++) {
		if (in_load(&phs[i], eh->e_entry, true)) {
			out->entry = eh->e_entry;
			entry_ok = true;
		}
	}
	if (out->has_pvh && !pvh_ok)
		return err_set(err, -ENOEXEC, "PVH entry 0x%llx is not inside any PT_LOAD",
			       (unsigned long long)out->pvh_entry);
	if (!out->has_pvh && !entry_ok)
		return err_set(err, -ENOEXEC, "entry point 0x%llx is not inside any PT_LOAD",
			       (unsigned long long)eh->e_entry);
	return 0;
}

int elf_load(const struct guest_mem *m, const uint8_t *img, size_t len, int map_fd,
	     struct elf_image *out, struct errbuf *err)
{
	Elf64_Ehdr eh = {0};
	Elf64_Phdr phs[ELF_MAX_PHNUM];
	unsigned n_load = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len)
		memcpy(&eh, img, len < sizeof(eh) ? len : sizeof(eh));
	rc = check_ehdr(&eh, len, err);
	if (rc < 0)
		return rc;
	memcpy(phs, img + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));
	out->load_lo = UINT64_MAX;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];

		if (ph->p_type == PT_NOTE) {
			if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
				return err_set(err, -ENOEXEC, "PT_NOTE beyond end of file");
			rc = scan_notes(img, ph, out, err);
		} else if (ph->p_type == PT_LOAD && ph->p_memsz) {
			rc = check_load(m, ph, n_load++, len, err);
			if (rc == 0 && ph->p_paddr < out->load_lo)
				out->load_lo = ph->p_paddr;
			if (rc == 0 && ph->p_paddr + ph->p_memsz > out->load_hi)
				out->load_hi = ph->p_paddr + ph->p_memsz;
		}
		if (rc < 0)
			return rc;
	}
	if (n_load == 0)
		return err_set(err, -ENOEXEC, "ELF has no PT_LOAD segment");
	rc = resolve_entry(&eh, phs, out, err);
	if (rc < 0 || !m)
		return rc;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &phs[i];
		uint8_t *dst;

		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		dst = gmem_ptr(m, ph->p_paddr, ph->p_memsz);
		gmem_load_image(m, ph->p_paddr, img, ph->p_offset, ph->p_filesz, map_fd);
		memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	}
	return 0;
}
