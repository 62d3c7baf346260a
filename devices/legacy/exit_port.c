/* The exit port: a guest write of N to port 0xF4 stops the VM with process exit status N. */
#include <stdint.h>
#include <string.h>

#include "../../vmm/status.h"
#include "../host.h"
#include "../device.h"

static struct vm *exit_vm;

static void exit_port_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	uint32_t v = 0;

	(void)opaque;
	if (!is_write) {
		memset(data, 0xFF, len);
		return;
	}
	if (off != 0)
		return;
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	host_request_stop(exit_vm, v > STATUS_GUEST_MAX ? STATUS_GUEST_MAX : (int)v);
}

static int exit_port_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	int rc;

	(void)cfg;
	exit_vm = vm;
	rc = host_add_pio(vm, EXIT_PORT, EXIT_PORT_SIZE, exit_port_io, NULL);
	return rc < 0 ? err_sys(err, rc, "exit port 0x%x", EXIT_PORT) : 0;
}

static struct device_type exit_port_type = {
    .name = "exit-port", .phase = DEVICE_PHASE_EXIT_PORT, .create = exit_port_create};
DEVICE_TYPE_REGISTER(exit_port_type)
