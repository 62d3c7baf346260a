/* The selftest program: TAP-style checks, and the table of per-device-type tests. */
#ifndef FW_SELFTEST_H
#define FW_SELFTEST_H

#include "virtio_driver.h"

/* Print "ok N - <what>" or "not ok N - <what>: <detail>"; returns ok. */
bool check(bool ok, const char *detail, const char *what_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A device type's test: runs all checks for one device (named e.g. "blk0"). */
struct devtest {
	uint32_t device_id;
	const char *prefix; /* device names are prefix + index in discovery order */
	void (*run)(struct vdev *d);
};

/* Register a device test (collected by the linker into the .devtests table). */
#define DEVTEST(var, id, prefix, fn)                                                               \
	static const struct devtest var                                                            \
	    __attribute__((used, section(".devtests"), aligned(8))) = {id, prefix, fn}

/* Common bring-up for a test: negotiate wanted features, set up nqueues queues, route the
 * device's GSI to APIC_VECTOR_BASE + gsi, DRIVER_OK. Emits the "<name> init" check and a
 * "# <name>: ..." diagnostic line with the negotiated features. */
bool vdev_bringup(struct vdev *d, uint64_t wanted, unsigned nqueues);

/* Emits "<name> interrupt vector 0x.." (IRR bit, then InterruptStatus/ACK); call it after
 * the device's first request completes. */
bool vdev_interrupt_check(struct vdev *d);

/* With more than one CPU in the MP table: start the APs by INIT/SIPI, one check line. */
void smp_test(void);

#endif
