/* vCPU creation, boot register state, and the KVM_RUN exit loop. */
#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../devices/virtio/mmio.h"
#include "status.h"
#include "vm.h"

#define CPUID_MAX_ENTRIES 256

const char *const vcpu_exit_names[VCPU_EXIT_KINDS] = {
    [VCPU_EXIT_IO] = "io",
    [VCPU_EXIT_MMIO] = "mmio",
    [VCPU_EXIT_MMIO_QUEUE_NOTIFY] = "mmio_queue_notify",
    [VCPU_EXIT_IO_UNHANDLED] = "io_unhandled",
    [VCPU_EXIT_MMIO_UNHANDLED] = "mmio_unhandled",
    [VCPU_EXIT_HLT] = "hlt",
    [VCPU_EXIT_SHUTDOWN] = "shutdown",
    [VCPU_EXIT_INTERNAL_ERROR] = "internal_error",
    [VCPU_EXIT_INTR] = "intr",
    [VCPU_EXIT_OTHER] = "other",
};

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	static struct kvm_cpuid2 *cache;
	struct kvm_cpuid2 *c;

	if (cache)
		return cache;
	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return NULL;
	}
	cache = c;
	return cache;
}

void vcpu_cpuid_patch(struct kvm_cpuid2 *c, unsigned id, unsigned n_vcpus)
{
	unsigned core_shift = 0;

	while ((1U << core_shift) < n_vcpus)
		core_shift++;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000FFFFU) | (id << 24) | ((n_vcpus & 0xFF) << 16);
			e->ecx |= 1U << 31; /* hypervisor present */
			if (n_vcpus > 1)
				e->edx |= 1U << 28; /* HTT: multiple logical processors */
			break;
		case 4:
			e->eax = (e->eax & 0x03FFFFFFU) | (((1U << core_shift) - 1) << 26);
			break;
		case 0xB:
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1U << 8) | 0;
			} else if (e->index == 1) {
				e->eax = core_shift;
				e->ebx = n_vcpus;
				e->ecx = (2U << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			e->edx = id;
			break;
		default:
			break;
		}
	}
}

/* LINT0 = ExtINT (the legacy PIC's output), LINT1 = NMI, as on a PC. */
static int vcpu_setup_lapic(struct vcpu *v)
{
	struct kvm_lapic_state la;
	uint32_t lint0, lint1;

	if (ioctl(v->fd, KVM_GET_LAPIC, &la) < 0)
		return -errno;
	memcpy(&lint0, la.regs + 0x350, 4);
	memcpy(&lint1, la.regs + 0x360, 4);
	lint0 = (lint0 & ~0x700U) | (7U << 8);
	lint1 = (lint1 & ~0x700U) | (4U << 8);
	memcpy(la.regs + 0x350, &lint0, 4);
	memcpy(la.regs + 0x360, &lint1, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &la) < 0 ? -errno : 0;
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id)
{
	struct kvm_cpuid2 *sup = supported_cpuid(vm->kvm_fd), *c;
	size_t size;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return -errno;
	v->run =
	    mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	if (!sup)
		return -ENOTSUP;
	size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	c = malloc(size);
	if (!c)
		return -ENOMEM;
	memcpy(c, sup, size);
	vcpu_cpuid_patch(c, id, vm->n_vcpus);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		rc = -errno;
	free(c);
	return rc < 0 ? rc : vcpu_setup_lapic(v);
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t db, uint8_t l)
{
	*s = (struct kvm_segment){.base = 0,
				  .limit = 0xFFFFFFFF,
				  .selector = sel,
				  .type = type,
				  .present = 1,
				  .dpl = 0,
				  .db = db,
				  .s = 1,
				  .l = l,
				  .g = 1};
}

/* Flat GDT at BOOT_GDT_ADDR: 0x08 code32 (PVH), 0x10 code64 and 0x18 data (Linux's __BOOT_CS
 * and __BOOT_DS, as its 64-bit boot protocol requires). Selectors match the sregs below. */
static int write_boot_gdt(struct vm *vm)
{
	static const uint64_t gdt[4] = {
	    0, 0x00CF9B000000FFFFULL, /* 32-bit code */
	    0x00AF9B000000FFFFULL,    /* 64-bit code */
	    0x00CF93000000FFFFULL,    /* data */
	};

	return gmem_write(&vm->mem, BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

static int set_sregs_pvh32(struct vcpu *v, struct kvm_sregs *sr)
{
	set_seg(&sr->cs, 0x08, 0xB, 1, 0);
	set_seg(&sr->ds, 0x18, 0x3, 1, 0);
	sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
	sr->cr0 = 0x11; /* PE | ET */
	sr->cr4 = 0;
	sr->efer = 0;
	(void)v;
	return 0;
}

static int set_sregs_long64(struct vcpu *v, struct kvm_sregs *sr)
{
	set_seg(&sr->cs, 0x10, 0xB, 0, 1);
	set_seg(&sr->ds, 0x18, 0x3, 1, 0);
	sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
	sr->cr3 = BOOT_PML4_ADDR;
	sr->cr4 = 0x20;			   /* PAE */
	sr->cr0 = 0x80050033;		   /* PG | AM | WP | NE | ET | MP | PE */
	sr->efer = (1U << 8) | (1U << 10); /* LME | LMA */
	(void)v;
	return 0;
}

int vcpu_set_boot_state(struct vcpu *v, const struct vcpu_boot *boot)
{
	struct kvm_sregs sr;
	struct kvm_regs regs = {0};
	int rc;

	if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	rc = write_boot_gdt(v->vm);
	if (rc < 0)
		return rc;
	sr.gdt.base = BOOT_GDT_ADDR;
	sr.gdt.limit = 4 * 8 - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	if (boot->mode == VCPU_BOOT_PVH32)
		set_sregs_pvh32(v, &sr);
	else
		set_sregs_long64(v, &sr);
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0)
		return -errno;
	regs.rflags = 0x2;
	regs.rip = boot->entry;
	regs.rbx = boot->rbx;
	regs.rsi = boot->rsi;
	regs.rsp = BOOT_STACK_TOP;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	if (boot->mode == VCPU_BOOT_LINUX64) {
		struct kvm_fpu fpu = {.fcw = 0x37F, .mxcsr = 0x1F80};

		if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
			return -errno;
	}
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	v->exits[VCPU_EXIT_IO]++;
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (!vm_dispatch_pio(v->vm, run->io.port, data, run->io.size, is_write)) {
			v->exits[VCPU_EXIT_IO_UNHANDLED]++;
			if (!is_write)
				memset(data, 0xFF, run->io.size);
		}
	}
}

static bool is_queue_notify(const struct vm *vm, uint64_t addr)
{
	return addr >= VIRTIO_MMIO_BASE &&
	       addr < VIRTIO_MMIO_BASE + vm->n_virtio * VIRTIO_MMIO_SIZE &&
	       virtio_mmio_is_queue_notify(addr & (VIRTIO_MMIO_SIZE - 1));
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	v->exits[VCPU_EXIT_MMIO]++;
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (run->mmio.is_write && is_queue_notify(v->vm, run->mmio.phys_addr))
		v->exits[VCPU_EXIT_MMIO_QUEUE_NOTIFY]++;
	if (!vm_dispatch_mmio(v->vm, run->mmio.phys_addr, run->mmio.data, len,
			      run->mmio.is_write)) {
		v->exits[VCPU_EXIT_MMIO_UNHANDLED]++;
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xFF, len);
	}
}

static void report_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs = {0};
	uint32_t sub = run->internal.suberror;

	ioctl(v->fd, KVM_GET_REGS, &regs);
	err_print("microvm: vcpu%u: KVM internal error (suberror %u%s) at rip 0x%llx\n", v->id, sub,
		  sub == KVM_INTERNAL_ERROR_EMULATION ? ": emulation failure" : "",
		  (unsigned long long)regs.rip);
}

/* Handle one exit; returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	switch (v->run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
		v->exits[VCPU_EXIT_INTR]++;
		return true;
	case KVM_EXIT_HLT:
		v->exits[VCPU_EXIT_HLT]++;
		return true;
	case KVM_EXIT_SHUTDOWN:
		v->exits[VCPU_EXIT_SHUTDOWN]++;
		err_print("microvm: vcpu%u: guest triple fault (KVM_EXIT_SHUTDOWN)\n", v->id);
		vm_request_stop(v->vm, STATUS_TRIPLE_FAULT);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		v->exits[VCPU_EXIT_INTERNAL_ERROR]++;
		report_internal_error(v);
		vm_request_stop(v->vm, STATUS_EMULATION);
		return false;
	default:
		v->exits[VCPU_EXIT_OTHER]++;
		err_print("microvm: vcpu%u: unhandled KVM exit reason %u\n", v->id,
			  v->run->exit_reason);
		vm_request_stop(v->vm, STATUS_EMULATION);
		return false;
	}
}

static void vcpu_loop(struct vcpu *v)
{
	while (!vm_stopping(v->vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->exits[VCPU_EXIT_INTR]++;
				continue;
			}
			err_print("microvm: vcpu%u: KVM_RUN: %s\n", v->id, strerror(errno));
			vm_request_stop(v->vm, STATUS_INTERNAL);
			return;
		}
		if (!vcpu_handle_exit(v))
			return;
	}
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct errbuf err = {0};

	if (vm->thread_init && vm->thread_init(vm, SECCOMP_ROLE_VCPU, v->fd, &err) < 0) {
		err_print("microvm: vcpu%u: %s\n", v->id, err.msg);
		vm_request_stop(vm, STATUS_INTERNAL);
	}
	pthread_barrier_wait(&vm->start_barrier);
	vcpu_loop(v);
	return NULL;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->run)
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->started)
		pthread_kill(v->thread, SIGUSR1);
}

void vcpu_print_stats(const struct vcpu *v, FILE *f)
{
	fprintf(f, "{\"id\":%u,\"exits\":{", v->id);
	for (int i = 0; i < VCPU_EXIT_KINDS; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", vcpu_exit_names[i],
			(unsigned long long)v->exits[i]);
	fprintf(f, "}}");
}
