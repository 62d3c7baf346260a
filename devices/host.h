/* What a device may use of the VM: the one interface between devices/ and vmm/. */
#ifndef MICROVM_DEVICES_HOST_H
#define MICROVM_DEVICES_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../vmm/evloop.h"
#include "../vmm/guest_mem.h"
#include "../vmm/layout.h" /* the guest address map: ports, VIRTIO_MMIO_SIZE, GSIs */

/* Opaque to devices: only vmm/ sees its fields (vmm/vm.h). */
struct vm;

/* A PIO or MMIO access trapped to user space. off is relative to the region base; data holds
 * len (1, 2, 4 or 8) bytes, little endian: filled by the handler on reads. Runs on a vCPU
 * thread; handlers must tolerate concurrent calls from several vCPUs. */
typedef void (*io_handler_fn)(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/* Print a JSON object value (e.g. {"requests":3}) describing a device's counters. Called on
 * the control thread once the VM has stopped. */
typedef void (*stats_fn)(void *opaque, FILE *f);

/* Unless said otherwise, the functions below are for device creation (the launching thread,
 * before any VM thread runs); they return 0 or -errno. */

/* Guest RAM. Every guest address a device touches goes through gmem_ptr (vmm/guest_mem.h),
 * the one range check. The pointer is valid for the VM's lifetime; any thread. */
struct guest_mem *host_mem(struct vm *vm);

/* The event loop the event thread runs; evloop_add/mod/del on it from any thread. */
struct evloop *host_loop(struct vm *vm);

/* Trap I/O ports [port, port+len) / guest physical [base, base+len) to fn (on vCPU threads).
 * -ENOSPC when the table is full, -EEXIST on overlap. */
int host_add_pio(struct vm *vm, uint64_t port, uint64_t len, io_handler_fn fn, void *opaque);
int host_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque);

/* Take the next virtio-mmio window (VIRTIO_MMIO_SIZE bytes at *base) and its GSI; the VM
 * describes it in the ACPI DSDT. The command-line announcement is the transport's job.
 * -ENOSPC when all windows are used. */
int host_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi);

/* KVM_IOEVENTFD: len-byte writes of datamatch to MMIO addr signal fd (assign), or remove that
 * binding (!assign). Any thread. */
int host_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		   bool assign);

/* KVM_IRQFD: a write to fd raises gsi (edge) in the in-kernel IOAPIC. Any thread. */
int host_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign);

/* KVM_IRQ_LINE: set gsi's level (legacy devices such as the UART). Any thread. */
int host_irq_line(struct vm *vm, uint32_t gsi, int level);

/* Add s to the guest kernel command line, ahead of the init's arguments after "--".
 * -E2BIG if it would not fit. */
int host_cmdline_append(struct vm *vm, const char *s);

/* Ask that host directory dir (absolute, not "/") stay reachable at the same path inside the
 * jail (--jail); without a jail the request is recorded and unused. One directory per VM:
 * -EBUSY if another was asked for, -EINVAL if dir is relative, "/" or too long. */
int host_jail_expose_dir(struct vm *vm, const char *dir);

/* Register fn to print name's counters under "devices" in the exit stats. -ENOSPC if full. */
int host_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque);

/* Stop the VM with process exit status (vmm/status.h). The first call wins. Any thread,
 * async-signal-safe. */
void host_request_stop(struct vm *vm, int status);

#endif
