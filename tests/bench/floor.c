/* The benchmark floor: the least a KVM launcher must do to boot a PVH ELF and echo its serial.
 * Same KVM setup as microvm (VM, irqchip, PIT, RAM slot, one vCPU, PVH entry state), no config,
 * no devices beyond COM1 THR and the exit port, no threads, no checks beyond the essential. */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RAM_SIZE (128ULL << 20)

struct start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist, cmdline, rsdp, memmap;
	uint32_t memmap_entries, reserved;
};

static uint32_t load_pvh(uint8_t *ram, const uint8_t *img)
{
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff);
	uint32_t entry = 0;

	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD) {
			memcpy(ram + ph[i].p_paddr, img + ph[i].p_offset, ph[i].p_filesz);
		} else if (ph[i].p_type == PT_NOTE) {
			const uint8_t *n = img + ph[i].p_offset, *end = n + ph[i].p_filesz;

			while (n + 12 <= end) {
				const Elf64_Nhdr *nh = (const void *)n;
				uint32_t nsz = (nh->n_namesz + 3) & ~3U,
					 dsz = (nh->n_descsz + 3) & ~3U;

				if (nh->n_type == 18 && !memcmp(n + 12, "Xen", 4))
					memcpy(&entry, n + 12 + nsz, 4);
				n += 12 + nsz + dsz;
			}
		}
	}
	return entry;
}

static void boot_info(uint8_t *ram)
{
	struct start_info si = {.magic = 0x336ec578,
				.version = 1,
				.cmdline = 0x20000,
				.memmap = 0x6400,
				.memmap_entries = 3};
	uint64_t mm[3][3] = {
	    {0, 0x9fc00, 1}, {0x9fc00, 0x60400, 2}, {0x100000, RAM_SIZE - 0x100000, 1}};

	for (int i = 0; i < 3; i++) {
		memcpy(ram + 0x6400 + i * 24, &mm[i][0], 16);
		memcpy(ram + 0x6400 + i * 24 + 16, &mm[i][2], 4);
	}
	memcpy(ram + 0x6000, &si, sizeof(si));
}

static void set_pvh_regs(int vcpu, uint32_t entry)
{
	struct kvm_sregs sr;
	struct kvm_regs regs = {.rflags = 2, .rip = entry, .rbx = 0x6000};
	struct kvm_segment cs = {.limit = 0xffffffff,
				 .selector = 0x08,
				 .type = 0xb,
				 .present = 1,
				 .db = 1,
				 .s = 1,
				 .g = 1};
	struct kvm_segment ds = cs;

	ioctl(vcpu, KVM_GET_SREGS, &sr);
	ds.selector = 0x18;
	ds.type = 3;
	sr.cs = cs;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = ds;
	sr.cr0 = 0x11;
	sr.cr4 = 0;
	sr.efer = 0;
	ioctl(vcpu, KVM_SET_SREGS, &sr);
	ioctl(vcpu, KVM_SET_REGS, &regs);
}

int main(int argc, char **argv)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), fd, vm, vcpu;
	struct kvm_pit_config pit = {0};
	struct stat st;
	struct kvm_run *run;
	uint8_t *ram, *img;
	struct kvm_cpuid2 *cpuid;

	if (argc != 2 || kvm < 0 || (fd = open(argv[1], O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		return 100;
	cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(cpuid->entries[0]));
	img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct kvm_userspace_memory_region mr = {.memory_size = RAM_SIZE,
						 .userspace_addr = (uintptr_t)ram};
	/* Same order as microvm: the memslot before the irqchip is ~6 ms cheaper here. */
	ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr);
	ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	ioctl(vm, KVM_CREATE_IRQCHIP, 0);
	ioctl(vm, KVM_CREATE_PIT2, &pit);
	boot_info(ram);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	cpuid->nent = 256;
	ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid);
	ioctl(vcpu, KVM_SET_CPUID2, cpuid);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	set_pvh_regs(vcpu, load_pvh(ram, img));
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return 101;
		if (run->exit_reason != KVM_EXIT_IO)
			return 102;
		uint8_t *data = (uint8_t *)run + run->io.data_offset;

		if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x3f8)
			write(1, data, 1);
		else if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0xf4)
			return data[0];
		else if (run->io.direction == KVM_EXIT_IO_IN)
			memset(data, 0xff, run->io.size);
	}
}
