/* ACPI hardware-reduced sleep registers (ACPI 6.4 §4.8.3.7): SLP_EN with S5 powers the VM off. */
#include <stdint.h>
#include <string.h>

#include "../host.h"
#include "../device.h"

enum {
	SLEEP_TYPE_SHIFT = 2,	  /* SLEEP_CONTROL_REG bits 4:2: SLP_TYPx */
	SLEEP_TYPE_MASK = 0x1C,	  /* the other bits are reserved (0) */
	SLEEP_ENABLE = 0x20,	  /* SLP_EN, write-only */
	SLEEP_WAKE_STATUS = 0x80, /* SLEEP_STATUS_REG WAK_STS: never set, we never wake */
};

struct acpi_sleep {
	struct vm *vm;
	_Atomic uint64_t poweroffs;
	_Atomic uint64_t ignored; /* SLP_EN with a sleep type we do not offer */
};

static struct acpi_sleep sleep_regs;

/* Port 0: control. SLP_EN with SLP_TYP S5 stops the VM with status 0; other types (S1-S4 are
 * not in the DSDT) are counted and ignored, as on hardware without them. Reads return 0.
 * Port 1: status. Reads 0 (WAK_STS clear); writes (the OS clearing WAK_STS) are ignored. */
static void acpi_sleep_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct acpi_sleep *s = opaque;
	uint8_t v = *(uint8_t *)data;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (off != 0 || !(v & SLEEP_ENABLE))
		return;
	if (((v & SLEEP_TYPE_MASK) >> SLEEP_TYPE_SHIFT) == ACPI_SLP_TYP_S5) {
		s->poweroffs++;
		host_request_stop(s->vm, 0);
	} else {
		s->ignored++;
	}
}

static void acpi_sleep_stats(void *opaque, FILE *f)
{
	struct acpi_sleep *s = opaque;

	fprintf(f, "{\"poweroffs\":%llu,\"ignored\":%llu}", (unsigned long long)s->poweroffs,
		(unsigned long long)s->ignored);
}

static int acpi_sleep_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *err)
{
	struct acpi_sleep *s = &sleep_regs;
	int rc;

	(void)cfg;
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	rc = host_add_pio(vm, ACPI_SLEEP_CONTROL_PORT, 2, acpi_sleep_io, s);
	if (rc < 0)
		return err_sys(err, rc, "acpi-sleep: ports 0x%x-0x%x", ACPI_SLEEP_CONTROL_PORT,
			       ACPI_SLEEP_STATUS_PORT);
	return host_add_stats(vm, "acpi_sleep", acpi_sleep_stats, s);
}

static struct device_type acpi_sleep_type = {
    .name = "acpi-sleep", .phase = DEVICE_PHASE_ACPI_SLEEP, .create = acpi_sleep_create};
DEVICE_TYPE_REGISTER(acpi_sleep_type)
