/* pvpanic (QEMU's pvpanic spec): the guest kernel's panic notifier ends the VM with its status. */
#include <stdint.h>
#include <string.h>

#include "../../vmm/status.h"
#include "../host.h"
#include "../device.h"

enum {
	PVPANIC_PANICKED = 1U << 0,	/* the guest kernel panicked */
	PVPANIC_CRASH_LOADED = 1U << 1, /* it panicked with a crash kernel loaded: not offered */
};

struct pvpanic {
	struct vm *vm;
	_Atomic uint64_t panics;
};

static struct pvpanic pvp;

/* Reads return the events we handle (PANICKED only: a guest that would boot a kdump kernel
 * must not be told we let it). A write with PANICKED stops the VM with STATUS_GUEST_PANIC;
 * other bits are ignored. */
static void pvpanic_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct pvpanic *p = opaque;

	(void)off;
	if (!is_write) {
		memset(data, 0, len);
		*(uint8_t *)data = PVPANIC_PANICKED;
		return;
	}
	if (!(*(uint8_t *)data & PVPANIC_PANICKED))
		return;
	if (p->panics++ == 0)
		err_print("microvm: the guest kernel panicked (pvpanic)\n");
	host_request_stop(p->vm, STATUS_GUEST_PANIC);
}

static void pvpanic_stats(void *opaque, FILE *f)
{
	struct pvpanic *p = opaque;

	fprintf(f, "{\"panics\":%llu}", (unsigned long long)p->panics);
}

static int pvpanic_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct pvpanic *p = &pvp;
	int rc;

	(void)cfg;
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	rc = host_add_pio(vm, PVPANIC_PORT, 1, pvpanic_io, p);
	if (rc < 0)
		return err_sys(err, rc, "pvpanic: port 0x%x", PVPANIC_PORT);
	return host_add_stats(vm, "pvpanic", pvpanic_stats, p);
}

static struct device_type pvpanic_type = {
    .name = "pvpanic", .phase = DEVICE_PHASE_PVPANIC, .create = pvpanic_create};
DEVICE_TYPE_REGISTER(pvpanic_type)
