/* The VM: KVM handles, guest memory, I/O dispatch, and the services devices are built on. */
#ifndef MICROVM_VM_H
#define MICROVM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../devices/host.h"
#include "../seccomp/role.h"
#include "config.h"
#include "errors.h"
#include "evloop.h"
#include "guest_mem.h"
#include "layout.h"

#define VM_MAX_IO_REGIONS 48U
#define VM_MAX_STATS	  40U

struct io_region {
	uint64_t base;
	uint64_t len;
	io_handler_fn fn;
	void *opaque;
};

/* io_handler_fn and stats_fn: devices/host.h, the devices' view of this struct. */
struct vm_stats_entry {
	char name[32];
	stats_fn fn;
	void *opaque;
};

/* What a virtio-mmio window is, for the command line and the ACPI/DSDT description. */
struct vm_virtio_window {
	uint64_t base;
	uint32_t gsi;
};

struct vcpu;

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	const struct vm_config *cfg;
	struct guest_mem mem;

	struct io_region pio[VM_MAX_IO_REGIONS];
	unsigned n_pio;
	struct io_region mmio[VM_MAX_IO_REGIONS];
	unsigned n_mmio;

	struct vm_virtio_window virtio[VIRTIO_MMIO_MAX];
	unsigned n_virtio;

	uint64_t rsdp_addr; /* ACPI RSDP guest address, 0 when no ACPI tables */

	char cmdline[BOOT_CMDLINE_MAX];
	size_t cmdline_len;

	char jail_dir[4096]; /* host_jail_expose_dir's directory, "" for none; read by confine.c */

	struct vm_stats_entry stats[VM_MAX_STATS];
	unsigned n_stats;

	struct evloop loop; /* run by the event thread */

	unsigned n_vcpus;
	struct vcpu *vcpus;

	int stop_status; /* -1 while running; set once by vm_request_stop */
	int stop_efd;	 /* eventfd written by vm_request_stop; the control thread waits on it */
	bool seccomp;	 /* install filters (false only with --no-seccomp) */

	/* Called first on every VM thread (the launcher installs the role's seccomp filter);
	 * fd is the vCPU fd for SECCOMP_ROLE_VCPU, else -1. NULL: nothing to do. */
	int (*thread_init)(struct vm *vm, enum seccomp_role role, int fd, struct errbuf *err);
	pthread_barrier_t start_barrier; /* threads wait here until all are ready */
};

/* Zero vm and remember cfg (no resources yet). */
void vm_init(struct vm *vm, const struct vm_config *cfg);

/* Open /dev/kvm and check the API version and every capability microvm relies on. Idempotent.
 * Errors: -ENOENT/-EACCES (no device), -ENOTSUP (old API, missing capability). */
int vm_open_kvm(struct vm *vm, struct errbuf *err);

/* Create the VM: KVM_CREATE_VM, in-kernel irqchip and PIT, guest RAM (cfg->machine.mem_size_mib)
 * in memslots around the MMIO hole, the event loop and the stop eventfd. No vCPUs, no image.
 * Calls vm_init first unless vm_init(vm, cfg) was already called. */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err);

/* Route a trapped access to the region that holds it; false if none does. */
bool vm_dispatch_pio(struct vm *vm, uint64_t port, void *data, uint32_t len, bool is_write);
bool vm_dispatch_mmio(struct vm *vm, uint64_t addr, void *data, uint32_t len, bool is_write);

/* True once vm_request_stop has been called. */
bool vm_stopping(const struct vm *vm);

/* Register a trapped I/O range (PIO: base is the port). -ENOSPC when full, -EEXIST on overlap. */
int vm_add_pio(struct vm *vm, uint64_t port, uint64_t len, io_handler_fn fn, void *opaque);
int vm_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque);

/* Take the next virtio-mmio window and GSI (recorded for ACPI). -ENOSPC when all GSIs are
 * used. The transport announces it on the command line (virtio_mmio_init). */
int vm_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi);

/* Add s to the guest command line: " s" at the end, or "s " before a "--" word, so that the
 * init's arguments after "--" stay last and untouched. -E2BIG if it would not fit. */
int vm_cmdline_append(struct vm *vm, const char *s);

/* KVM_IOEVENTFD: writes of len bytes equal to datamatch at MMIO addr signal fd (assign), or
 * remove that binding (!assign). Returns 0 or -errno. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		 bool assign);

/* KVM_IRQFD: a write to fd raises gsi (edge) in the in-kernel IOAPIC. */
int vm_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign);

/* KVM_IRQ_LINE: set gsi's level (for legacy devices such as the UART). */
int vm_irq_line(struct vm *vm, uint32_t gsi, int level);

/* Register a stats callback printed under "devices" in the exit stats. */
int vm_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque);

/* From any thread (or a signal handler): stop the VM with process exit status. The first call
 * wins; later calls are ignored. */
void vm_request_stop(struct vm *vm, int status);

#endif
