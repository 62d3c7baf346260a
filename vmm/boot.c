/* Image loading and PVH boot structures (hvm_start_info, memory map, modules). */
#include "boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi.h"
#include "../firmware/pvh.h" /* the PVH structures, shared with the firmware */
#include "boot_linux.h"
#include "builtin_images.h"
#include "elf_loader.h"
#include "layout.h"
#include "mptable.h"
#include "vm.h"

#define DECLARE_IMAGE(name) extern const uint8_t builtin_##name##_start[], builtin_##name##_end[];
BUILTIN_IMAGES(DECLARE_IMAGE)

#define IMAGE_ENTRY(name) {#name, builtin_##name##_start, builtin_##name##_end},
static const struct builtin_guest {
	const char *name;
	const uint8_t *start, *end;
} builtin_guests[] = {BUILTIN_IMAGES(IMAGE_ENTRY)};

const uint8_t *builtin_image(const char *name, size_t *len)
{
	for (size_t i = 0; i < sizeof(builtin_guests) / sizeof(builtin_guests[0]); i++) {
		const struct builtin_guest *g = &builtin_guests[i];

		if (strcmp(name, g->name) == 0) {
			/* Two symbols around one .incbin: compare addresses, not pointers. */
			*len = (size_t)((uintptr_t)g->end - (uintptr_t)g->start);
			return g->start;
		}
	}
	return NULL;
}

unsigned boot_mem_map(const struct vm *vm, struct boot_mem_range *out, unsigned max)
{
	const struct guest_mem *m = &vm->mem;
	struct boot_mem_range r[4];
	unsigned n = 0;

	r[n++] = (struct boot_mem_range){0, BOOT_EBDA_START, 1};
	r[n++] = (struct boot_mem_range){BOOT_EBDA_START, BOOT_DATA_END - BOOT_EBDA_START, 2};
	if (m->low_size > BOOT_DATA_END)
		r[n++] = (struct boot_mem_range){BOOT_DATA_END, m->low_size - BOOT_DATA_END, 1};
	if (m->ram_size > m->low_size)
		r[n++] = (struct boot_mem_range){MMIO_HOLE_END, m->ram_size - m->low_size, 1};
	if (n > max)
		n = max;
	memcpy(out, r, n * sizeof(r[0]));
	return n;
}

int boot_pvh_setup(struct vm *vm, uint64_t initrd_addr, uint64_t initrd_size,
		   struct vcpu_boot *boot)
{
	struct boot_mem_range r[8];
	struct hvm_memmap_table_entry mm[8];
	struct hvm_modlist_entry mod = {.paddr = initrd_addr, .size = initrd_size};
	struct hvm_start_info si = {
	    .magic = HVM_START_MAGIC_VALUE,
	    .version = 1,
	    .nr_modules = initrd_size ? 1 : 0,
	    .modlist_paddr = initrd_size ? BOOT_MODLIST_ADDR : 0,
	    .cmdline_paddr = BOOT_CMDLINE_ADDR,
	    .rsdp_paddr = vm->rsdp_addr,
	    .memmap_paddr = BOOT_MEMMAP_ADDR,
	};
	unsigned n = boot_mem_map(vm, r, 8);
	int rc;

	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){r[i].addr, r[i].size, r[i].type, 0};
	si.memmap_entries = n;
	rc = gmem_write(&vm->mem, BOOT_MEMMAP_ADDR, mm, n * sizeof(mm[0]));
	if (rc == 0 && initrd_size)
		rc = gmem_write(&vm->mem, BOOT_MODLIST_ADDR, &mod, sizeof(mod));
	if (rc == 0)
		rc = gmem_write(&vm->mem, BOOT_CMDLINE_ADDR, vm->cmdline, vm->cmdline_len + 1);
	if (rc == 0)
		rc = gmem_write(&vm->mem, BOOT_START_INFO, &si, sizeof(si));
	boot->rbx = BOOT_START_INFO;
	return rc;
}

#define INITRD_READ_CHUNK (8ULL << 20)

/* Open a regular file read-only; err names the config key and the path. O_NONBLOCK: a FIFO
 * or a device node is refused by the type check instead of blocking the open. */
static int open_image(const char *key, const char *path, int *fd_out, uint64_t *size,
		      struct errbuf *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return err_sys(err, -errno, "%s: %s", key, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* -ENOTBLK, like a drive that is neither a file nor a block device: status 66. */
		int rc = S_ISDIR(st.st_mode) ? -EISDIR : -ENOTBLK;

		close(fd);
		return err_set(err, rc, "%s: %s: %s", key, path,
			       rc == -EISDIR ? "is a directory" : "not a regular file");
	}
	*fd_out = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

int boot_load_initrd(struct vm *vm, uint64_t kernel_end, uint64_t max_end, uint64_t *addr,
		     uint64_t *size, struct errbuf *err)
{
	const char *path = vm->cfg->boot.initrd_path;
	uint64_t top = vm->mem.low_size < max_end ? vm->mem.low_size : max_end, len, at, done = 0;
	int fd, rc;

	*addr = *size = 0;
	if (!path)
		return 0;
	rc = open_image("boot-source.initrd_path", path, &fd, &len, err);
	if (rc < 0)
		return rc;
	at = (top - (len < top ? len : top)) & ~0xFFFULL;
	if (len == 0 || len > top || at < kernel_end) {
		close(fd);
		return err_set(err, len ? -EFBIG : -EINVAL,
			       "boot-source.initrd_path: %s: %s (%llu bytes, RAM %llu MiB)", path,
			       len ? "does not fit in guest RAM above the kernel" : "is empty",
			       (unsigned long long)len,
			       (unsigned long long)(vm->mem.ram_size / MiB));
	}
	while (done < len) {
		/* In chunks: a signal's handler runs between two (launch_guard.h), not after a
		 * whole slow gigabyte. */
		uint64_t n = len - done < INITRD_READ_CHUNK ? len - done : INITRD_READ_CHUNK;
		ssize_t r = pread(fd, gmem_ptr(&vm->mem, at + done, n), n, (off_t)done);

		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			close(fd);
			return err_sys(err, rc, "boot-source.initrd_path: %s: read", path);
		}
		done += (uint64_t)r;
	}
	close(fd);
	*addr = at;
	*size = len;
	return 0;
}

static int load_elf(struct vm *vm, const uint8_t *img, size_t len, int fd, const char *what,
		    struct vcpu_boot *boot, struct errbuf *err)
{
	struct elf_image ei;
	uint64_t initrd_addr, initrd_size;
	int rc = elf_load(&vm->mem, img, len, fd, &ei, err);

	if (rc < 0) {
		struct errbuf inner = *err;

		return err_set(err, rc, "%s: %s", what, inner.msg);
	}
	if (!ei.has_pvh)
		return boot_linux_elf64(vm, &ei, boot, err);
	rc = boot_load_initrd(vm, ei.load_hi, vm->mem.low_size, &initrd_addr, &initrd_size, err);
	if (rc < 0)
		return rc;
	boot->mode = VCPU_BOOT_PVH32;
	boot->entry = ei.pvh_entry;
	return boot_pvh_setup(vm, initrd_addr, initrd_size, boot);
}

static int load_file(struct vm *vm, const char *path, struct vcpu_boot *boot, struct errbuf *err)
{
	const char *key = "boot-source.kernel_image_path";
	uint64_t size;
	void *img;
	char what[600];
	int fd, rc = open_image(key, path, &fd, &size, err);

	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "%s: %s", key, path);
	if (size < 64) {
		close(fd);
		return err_set(err, -ENOEXEC, "%s: not a kernel image (%llu bytes)", what,
			       (unsigned long long)size);
	}
	img = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED) {
		rc = -errno;
		close(fd);
		return err_sys(err, rc, "%s: mmap", what);
	}
	if (size > 0x206 && memcmp((uint8_t *)img + 0x202, "HdrS", 4) == 0) {
		rc = boot_linux_bzimage(vm, img, size, fd, boot, err);
		if (rc < 0) {
			struct errbuf inner = *err;

			err_set(err, rc, "%s: %s", what, inner.msg);
		}
	} else
		rc = load_elf(vm, img, size, fd, what, boot, err);
	munmap(img, size);
	close(fd);
	return rc;
}

/* MP table and ACPI tables describing the vCPUs, the IOAPIC and every virtio window. */
static int boot_tables(struct vm *vm, struct errbuf *err)
{
	struct acpi_config ac = {
	    .n_vcpus = vm->n_vcpus, .virtio = vm->virtio, .n_virtio = vm->n_virtio};
	int rc = mptable_build(&vm->mem, vm->n_vcpus, err);

	if (rc == 0)
		rc = acpi_build(&vm->mem, &ac, &vm->rsdp_addr, err);
	return rc;
}

int boot_load(struct vm *vm, struct vcpu_boot *boot, struct errbuf *err)
{
	const struct boot_config *b = &vm->cfg->boot;
	const uint8_t *img;
	size_t len;
	char what[64];
	int rc;

	memset(boot, 0, sizeof(*boot));
	rc = boot_tables(vm, err);
	if (rc < 0)
		return rc;
	if (!b->builtin)
		return load_file(vm, b->kernel_image_path, boot, err);
	img = builtin_image(b->builtin, &len);
	if (!img)
		return err_set(err, -ENOENT, "boot-source.kernel_image_path: no built-in guest %s",
			       b->builtin);
	snprintf(what, sizeof(what), "builtin:%s", b->builtin);
	return load_elf(vm, img, len, -1, what, boot, err);
}
