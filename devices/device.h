/* Device types register themselves here; the VM builder creates every configured instance. */
#ifndef MICROVM_DEVICE_H
#define MICROVM_DEVICE_H

#include "../vmm/config.h"
#include "../vmm/errors.h"

struct vm;

struct device_type {
	const char *name;
	int order; /* creation order: legacy 0-9, blk 10, net 20, rng 30, vsock 40 */
	/* Create the instances cfg asks for (possibly none). 0 or -errno with err filled; the
	 * exit status is err's class (err_class: STATUS_IMAGE for an unusable host file or
	 * device the config names, STATUS_CONFIG for a bad value), else STATUS_INTERNAL. */
	int (*create)(struct vm *vm, const struct vm_config *cfg, struct errbuf *err);
	struct device_type *next;
};

void device_type_register(struct device_type *t);

/* Create all registered device types' instances, in ascending order. */
int devices_create_all(struct vm *vm, const struct vm_config *cfg, struct errbuf *err);

#define DEVICE_TYPE_REGISTER(var)                                                                  \
	static void __attribute__((constructor)) var##_register(void)                              \
	{                                                                                          \
		device_type_register(&(var));                                                      \
	}

#endif
