/* Device types register themselves here; the VM builder creates every configured instance. */
#ifndef MICROVM_DEVICE_H
#define MICROVM_DEVICE_H

#include "../vmm/config.h"
#include "../vmm/errors.h"

struct vm;

/* When a device type's instances are created: in this order, one type per phase. Virtio
 * types take virtio-mmio windows (and GSIs) in creation order, which is the guest's probe
 * order: blk first, so /dev/vdX follow the config's drives (root=/dev/vda). A new type gets
 * a phase of its own here. */
enum device_phase {
	DEVICE_PHASE_SERIAL,	   /* the 8250 UART on COM1 */
	DEVICE_PHASE_I8042,	   /* the keyboard controller's reset line */
	DEVICE_PHASE_EXIT_PORT,	   /* the guest's exit status port */
	DEVICE_PHASE_ACPI_SLEEP,   /* ACPI S5 (poweroff) */
	DEVICE_PHASE_PVPANIC,	   /* panic notifier */
	DEVICE_PHASE_VIRTIO_BLK,   /* drives, in config order */
	DEVICE_PHASE_VIRTIO_NET,   /* network-interfaces, in config order */
	DEVICE_PHASE_VIRTIO_RNG,   /* entropy */
	DEVICE_PHASE_VIRTIO_VSOCK, /* vsock */
};

struct device_type {
	const char *name;
	enum device_phase phase;
	/* Create the instances cfg asks for (possibly none). 0 or -errno with err filled; the
	 * exit status is err's class (err_class: STATUS_IMAGE for an unusable host file or
	 * device the config names, STATUS_CONFIG for a bad value), else STATUS_INTERNAL. */
	int (*create)(struct vm *vm, const struct vm_config *cfg, struct errbuf *err);
	struct device_type *next;
};

void device_type_register(struct device_type *t);

/* Create all registered device types' instances, phase by phase. */
int devices_create_all(struct vm *vm, const struct vm_config *cfg, struct errbuf *err);

#define DEVICE_TYPE_REGISTER(var)                                                                  \
	static void __attribute__((constructor)) var##_register(void)                              \
	{                                                                                          \
		device_type_register(&(var));                                                      \
	}

#endif
