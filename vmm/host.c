/* devices/host.h over struct vm: thin wrappers, plus the jail directory request. */
#include "../devices/host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm.h"

struct guest_mem *host_mem(struct vm *vm)
{
	return &vm->mem;
}

struct evloop *host_loop(struct vm *vm)
{
	return &vm->loop;
}

int host_add_pio(struct vm *vm, uint64_t port, uint64_t len, io_handler_fn fn, void *opaque)
{
	return vm_add_pio(vm, port, len, fn, opaque);
}

int host_add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_handler_fn fn, void *opaque)
{
	return vm_add_mmio(vm, base, len, fn, opaque);
}

int host_alloc_virtio_window(struct vm *vm, uint64_t *base, uint32_t *gsi)
{
	return vm_alloc_virtio_window(vm, base, gsi);
}

int host_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd,
		   bool assign)
{
	return vm_ioeventfd(vm, addr, len, datamatch, fd, assign);
}

int host_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign)
{
	return vm_irqfd(vm, fd, gsi, assign);
}

int host_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	return vm_irq_line(vm, gsi, level);
}

int host_cmdline_append(struct vm *vm, const char *s)
{
	return vm_cmdline_append(vm, s);
}

int host_jail_expose_dir(struct vm *vm, const char *dir)
{
	size_t n = strlen(dir);

	if (dir[0] != '/' || n == 1 || n >= sizeof(vm->jail_dir))
		return -EINVAL;
	if (vm->jail_dir[0] && strcmp(vm->jail_dir, dir) != 0)
		return -EBUSY;
	memcpy(vm->jail_dir, dir, n + 1);
	return 0;
}

int host_add_stats(struct vm *vm, const char *name, stats_fn fn, void *opaque)
{
	return vm_add_stats(vm, name, fn, opaque);
}

void host_request_stop(struct vm *vm, int status)
{
	vm_request_stop(vm, status);
}
