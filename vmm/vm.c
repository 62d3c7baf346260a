/* VM creation (KVM, irqchip, guest RAM) and the services devices use: I/O dispatch tables,
 * virtio windows, command line, ioeventfd/irqfd bindings, stats registry, stop requests. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct kvm_cap_need {
	int cap;
	const char *name;
};

static const struct kvm_cap_need needed_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP (in-kernel irqchip)"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
};

int vm_open_kvm(struct vm *vm, struct errbuf *err)
{
	int version;

	if (vm->kvm_fd >= 0)
		return 0;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		vm->kvm_fd = -1;
		return err_sys(err, -errno, "/dev/kvm");
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version < 0)
		return err_sys(err, -errno, "/dev/kvm: not a KVM device (KVM_GET_API_VERSION)");
	if (version != KVM_API_VERSION)
		return err_set(err, -ENOTSUP, "/dev/kvm: KVM API version %d, need %d", version,
			       KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(needed_caps) / sizeof(needed_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, needed_caps[i].cap) <= 0)
			return err_set(err, -ENOTSUP, "/dev/kvm: missing capability %s",
				       needed_caps[i].name);
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return err_sys(err, -errno, "KVM_GET_VCPU_MMAP_SIZE");
	return 0;
}

static int vm_map_ram(struct vm *vm, uint64_t ram_size, struct errbuf *err)
{
	struct kvm_userspace_memory_region low = {0}, high = {0};
	void *host = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (host == MAP_FAILED)
		return err_sys(err, -errno, "mmap of %llu MiB guest RAM",
			       (unsigned long long)(ram_size / MiB));
	gmem_init(&vm->mem, host, ram_size);
	low = (struct kvm_userspace_memory_region){.slot = 0,
						   .guest_phys_addr = 0,
						   .memory_size = vm->mem.low_size,
						   .userspace_addr = (uintptr_t)host};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0)
		return err_sys(err, -errno, "KVM_SET_USER_MEMORY_REGION (low RAM)");
	if (ram_size > vm->mem.low_size) {
		high = (struct kvm_userspace_memory_region){
		    .slot = 1,
		    .guest_phys_addr = MMIO_HOLE_END,
		    .memory_size = ram_size - vm->mem.low_size,
		    .userspace_addr = (uintptr_t)host + vm->mem.low_size};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0)
			return err_sys(err, -errno, "KVM_SET_USER_MEMORY_REGION (high RAM)");
	}
	return 0;
}

/* PC-style GSI routing, as the ACPI MADT and MP table describe it: GSIs 0-15 to the 8259 pair,
 * IOAPIC pin = GSI except the PIT's GSI 0 -> pin 2 (ISA IRQ 2, the cascade, has no pin). */
static int vm_set_gsi_routing(struct vm *vm)
{
	static struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[48];
	} rt;
	unsigned n = 0;

	memset(&rt, 0, sizeof(rt));
	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		rt.e[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip =
				      gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				  .pin = gsi % 8}};
	}
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		rt.e[n++] = (struct kvm_irq_routing_entry){
		    .gsi = gsi,
		    .type = KVM_IRQ_ROUTING_IRQCHIP,
		    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi}};
	}
	rt.r.nr = n;
	return ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &rt) < 0 ? -errno : 0;
}

static int vm_create_irqchip(struct vm *vm, struct errbuf *err)
{
	struct kvm_pit_config pit = {.flags = 0};

	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xFFFBD000UL) < 0)
		return err_sys(err, -errno, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_sys(err, -errno, "KVM_CREATE_IRQCHIP");
	if (vm_set_gsi_routing(vm) < 0)
		return err_sys(err, -errno, "KVM_SET_GSI_ROUTING");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_sys(err, -errno, "KVM_CREATE_PIT2");
	return 0;
}

void vm_init(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->stop_efd = -1;
	vm->loop.epfd = vm->loop.stopfd = -1;
	vm->stop_status = -1;
	vm->seccomp = true;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	int rc;

	if (vm->cfg != cfg)
		vm_init(vm, cfg);
	rc = vm_open_kvm(vm, err);
	if (rc < 0)
		return rc;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_sys(err, -errno, "KVM_CREATE_VM");
	/* RAM before the irqchip: on this host a first memslot added after KVM_CREATE_IRQCHIP
	 * costs 5-7 ms, before it 0.1 ms (the irqchip's own setup is then as cheap). */
	rc = vm_map_ram(vm, cfg->machine.mem_size_mib * MiB, err);
	if (rc < 0)
		return rc;
	rc = vm_create_irqchip(vm, err);
	if (rc < 0)
		return rc;
	rc = evloop_init(&vm->loop);
	if (rc < 0)
		return err_sys(err, rc, "event loop");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return err_sys(err, -errno, "eventfd");
	return 0;
}

static int io_add(struct io_region *tab, unsigned *n, uint64_t base, uint64_t len, io_handler_fn fn,
		  void *opaque)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (unsigned i = 0; i < *n; i++) {
		if (base < tab[i].base + tab[i].len && tab[i].base < base + len)
			return -EEXIST;
	}
	if (*n >= VM_MAX_IO_REGIONS)
		return -ENOSPC;
	tab[(*n)++] = (struct io_region){.base = base, .len = len, .fn = fn, .opaque = opaque};
	return 0;
}

int vm_add_pio(struct vm *vm, uint64_t port, uint64_t len, io_handler_fn fn, void *opaque)
{
	return io_add(vm->pio, &vm->n_pio, port, len, fn, opaque);
}

int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	return io_add(vm->mmio, &vm->n_mmio, base, len, fn, opaque);
}

static bool io_dispatch(const struct io_region *tab, unsigned n, uint64_t addr, void *data,
			uint32_t len, bool is_write)
{
	for (unsigned i = 0; i < n; i++) {
		const struct io_region *r = &tab[i];

		if (addr >= r->base && addr - r->base < r->len &&
		    len <= r->len - (addr - r->base)) {
			r->fn(r->opaque, addr - r->base, data, len, is_write);
			return true;
		}
	}
	return false;
}

bool vm_dispatch_pio(struct vm *vm, uint64_t port, void *data, uint32_t len, bool is_write)
{
	return io_dispatch(vm->pio, vm->n_pio, port, data, len, is_write);
}

bool vm_dispatch_mmio(struct vm *vm, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	return io_dispatch(vm->mmio, vm->n_mmio, addr, data, len, is_write);
}

/* Where the init's arguments start: the "--" word (the kernel passes what follows it to init,
 * as Firecracker's boot_args do), or the end. */
static size_t cmdline_init_args(const char *c, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (c[i] == '-' && c[i + 1] == '-' && (i == 0 || c[i - 1] == ' ') &&
		    (i + 2 == len || c[i + 2] == ' '))
			return i;
	return len;
}

int vm_cmdline_append(struct vm *vm, const char *s)
{
	size_t n = strlen(s), len = vm->cmdline_len, at = cmdline_init_args(vm->cmdline, len);

	if (n == 0)
		return 0;
	if (len + n + 2 > sizeof(vm->cmdline))
		return -E2BIG;
	if (at == len) { /* no init arguments: " s" at the end */
		if (len)
			vm->cmdline[len++] = ' ';
		memcpy(vm->cmdline + len, s, n + 1);
		vm->cmdline_len = len + n;
		return 0;
	}
	memmove(vm->cmdline + at + n + 1, vm->cmdline + at, len - at + 1); /* "s " before "--" */
	memcpy(vm->cmdline + at, s, n);
	vm->cmdline[at + n] = ' ';
	vm->cmdline_len = len + n + 1;
	return 0;
}

int vm_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi)
{
	struct vm_virtio_window *w;

	if (vm->n_virtio >= VIRTIO_MMIO_MAX)
		return -ENOSPC;
	w = &vm->virtio[vm->n_virtio];
	w->base = VIRTIO_MMIO_BASE + vm->n_virtio * VIRTIO_MMIO_SIZE;
	w->gsi = VIRTIO_MMIO_GSI_BASE + vm->n_virtio;
	vm->n_virtio++;
	*base = w->base;
	*gsi = w->gsi;
	return 0;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		 bool assign)
{
	struct kvm_ioeventfd io = {
	    .datamatch = datamatch,
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int vm_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irq = {
	    .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};

	return ioctl(vm->vm_fd, KVM_IRQFD, &irq) < 0 ? -errno : 0;
}

int vm_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vm_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque)
{
	struct vm_stats_entry *e;

	if (vm->n_stats >= VM_MAX_STATS)
		return -ENOSPC;
	e = &vm->stats[vm->n_stats++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->fn = fn;
	e->opaque = opaque;
	return 0;
}

void vm_request_stop(struct vm *vm, int status)
{
	int expected = -1;
	uint64_t one = 1;

	if (__atomic_compare_exchange_n(&vm->stop_status, &expected, status, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		ssize_t r = write(vm->stop_efd, &one, sizeof(one));

		(void)r;
	}
}

bool vm_stopping(const struct vm *vm)
{
	return __atomic_load_n(&vm->stop_status, __ATOMIC_ACQUIRE) >= 0;
}
