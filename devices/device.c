/* Registry of device types, kept sorted by creation phase. */
#include "device.h"

static struct device_type *types;

void device_type_register(struct device_type *t)
{
	struct device_type **pp = &types;

	while (*pp && (*pp)->phase <= t->phase)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
}

int devices_create_all(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	for (struct device_type *t = types; t; t = t->next) {
		int rc = t->create(vm, cfg, err);

		if (rc < 0)
			return rc;
	}
	return 0;
}
