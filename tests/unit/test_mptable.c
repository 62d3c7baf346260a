/* Unit tests for the MP table: build into fake guest RAM, then parse back by MP spec 1.4 offsets.
 */
// SOURCES: vmm/mptable.c vmm/guest_mem.c vmm/errors.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/layout.h"
#include "vmm/mptable.h"

#define RAM  (1 * MiB)
#define FILL 0xA5

/* I/O interrupt entries: ISA IRQs 0-23, less IRQ 2 when IRQ 0 takes pin 2. */
#define N_INTSRC (MPTABLE_IRQ0_PIN != 0 ? 23 : 24)

static uint8_t *ram;
static struct guest_mem mem;

static uint32_t rd16(uint64_t gpa)
{
	return (uint32_t)ram[gpa] | (uint32_t)ram[gpa + 1] << 8;
}

static uint32_t rd32(uint64_t gpa)
{
	return rd16(gpa) | rd16(gpa + 2) << 16;
}

static uint8_t sum(uint64_t gpa, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s = (uint8_t)(s + ram[gpa + i]);
	return s;
}

static void reset_ram(void)
{
	memset(ram, FILL, RAM);
	gmem_init(&mem, ram, RAM);
}

struct seen {
	unsigned cpus, buses, ioapics, intsrcs, lints;
	unsigned pin_sources[24]; /* I/O interrupt entries per IOAPIC pin */
	int irq_pin[24];	  /* pin of each ISA IRQ, -1 if none */
};

static void check_cpu(uint64_t e, struct seen *s)
{
	CHECK_EQ(ram[e + 1], s->cpus);			/* APIC ID */
	CHECK_EQ(ram[e + 3] & 1, 1);			/* enabled */
	CHECK_EQ(ram[e + 3] & 2, s->cpus == 0 ? 2 : 0); /* BSP flag on APIC ID 0 only */
	s->cpus++;
}

static void check_intsrc(uint64_t e, unsigned n_vcpus, struct seen *s)
{
	CHECK_EQ(ram[e + 1], 0);       /* INT */
	CHECK_EQ(rd16(e + 2), 0x0005); /* edge, active high */
	CHECK_EQ(ram[e + 4], 0);       /* ISA bus */
	CHECK_EQ(ram[e + 6], n_vcpus); /* the IOAPIC */
	CHECK(ram[e + 5] < 24 && ram[e + 7] < 24);
	if (ram[e + 5] < 24 && ram[e + 7] < 24) {
		CHECK_EQ(s->irq_pin[ram[e + 5]], -1);
		s->irq_pin[ram[e + 5]] = ram[e + 7];
		s->pin_sources[ram[e + 7]]++;
	}
	s->intsrcs++;
}

static void check_lint(uint64_t e, struct seen *s)
{
	CHECK_EQ(ram[e + 6], 0xFF); /* all local APICs */
	if (s->lints == 0) {
		CHECK_EQ(ram[e + 1], 3); /* ExtINT */
		CHECK_EQ(ram[e + 7], 0); /* LINT0 */
	} else {
		CHECK_EQ(ram[e + 1], 1); /* NMI */
		CHECK_EQ(ram[e + 7], 1); /* LINT1 */
	}
	s->lints++;
}

/* Walk the base table's entries; returns the byte just past the last one. */
static uint64_t walk(uint64_t t, unsigned n_vcpus, struct seen *s)
{
	uint64_t e = t + 44;
	unsigned count = rd16(t + 34);

	for (unsigned i = 0; i < count; i++) {
		switch (ram[e]) {
		case 0:
			check_cpu(e, s);
			e += 20;
			break;
		case 1:
			CHECK(memcmp(ram + e + 2, "ISA   ", 6) == 0);
			s->buses++;
			e += 8;
			break;
		case 2:
			CHECK_EQ(ram[e + 1], n_vcpus);
			CHECK_EQ(ram[e + 3] & 1, 1);
			CHECK_EQ(rd32(e + 4), IOAPIC_ADDR);
			s->ioapics++;
			e += 8;
			break;
		case 3:
			check_intsrc(e, n_vcpus, s);
			e += 8;
			break;
		case 4:
			check_lint(e, s);
			e += 8;
			break;
		default:
			CHECK(0);
			return e;
		}
	}
	return e;
}

static void build_and_check(unsigned n_vcpus)
{
	struct errbuf err = {0};
	const uint64_t f = BOOT_MPTABLE_ADDR;
	struct seen s = {0};
	uint64_t t, end;
	int ok = 1;

	for (int i = 0; i < 24; i++)
		s.irq_pin[i] = -1;
	reset_ram();
	CHECK_EQ(mptable_build(&mem, n_vcpus, &err), 0);

	/* Floating pointer: "_MP_", table address, 1 paragraph, revision 1.4, checksum. */
	CHECK(memcmp(ram + f, "_MP_", 4) == 0);
	CHECK_EQ(f % 16, 0);
	CHECK_EQ(ram[f + 8], 1);
	CHECK_EQ(ram[f + 9], 4);
	CHECK_EQ(sum(f, 16), 0);
	CHECK_EQ(ram[f + 11], 0); /* a configuration table is present */
	CHECK_EQ(ram[f + 12], 0); /* virtual wire mode */
	t = rd32(f + 4);
	CHECK_EQ(t, f + 16);

	/* Configuration table header. */
	CHECK(memcmp(ram + t, "PCMP", 4) == 0);
	CHECK_EQ(ram[t + 6], 4);
	CHECK_EQ(sum(t, rd16(t + 4)), 0);
	CHECK_EQ(rd32(t + 36), LAPIC_ADDR);
	CHECK_EQ(rd16(t + 40), 0); /* no extended table */
	CHECK_EQ(rd16(t + 34), n_vcpus + 1 + 1 + N_INTSRC + 2);

	end = walk(t, n_vcpus, &s);
	CHECK_EQ(end - t, rd16(t + 4));
	CHECK(end <= BOOT_MPTABLE_ADDR + 1024);
	CHECK_EQ(s.cpus, n_vcpus);
	CHECK_EQ(s.buses, 1);
	CHECK_EQ(s.ioapics, 1);
	CHECK_EQ(s.intsrcs, N_INTSRC);
	CHECK_EQ(s.lints, 2);
	/* IRQ 0 -> pin 2 as on PCs and IRQ 2 (the cascade) absent; every other IRQ n -> pin n;
	 * pin 0 unused. (With MPTABLE_IRQ0_PIN 0: all 24 IRQs identity-mapped.) */
	CHECK_EQ(s.irq_pin[0], MPTABLE_IRQ0_PIN);
	for (int irq = 1; irq < 24; irq++)
		CHECK_EQ(s.irq_pin[irq], irq == MPTABLE_IRQ0_PIN ? -1 : irq);
	for (int pin = 0; pin < 24; pin++)
		CHECK_EQ(s.pin_sources[pin], pin == 0 && MPTABLE_IRQ0_PIN != 0 ? 0 : 1);

	/* Zeros after the table up to 1 KiB; nothing outside that KiB touched. */
	for (uint64_t i = end; i < BOOT_MPTABLE_ADDR + 1024; i++)
		ok &= ram[i] == 0;
	for (uint64_t i = 0; i < RAM; i++) {
		if (i == BOOT_MPTABLE_ADDR)
			i += 1024;
		ok &= ram[i] == FILL;
	}
	CHECK(ok);
}

static void test_one(void)
{
	build_and_check(1);
}

static void test_four(void)
{
	build_and_check(4);
}

static void test_max(void)
{
	build_and_check(MPTABLE_MAX_VCPUS);
	/* 16 + 44 + 32 * 20 + 8 + 8 + (23 + 2) * 8 = 916 bytes (924 with 24 IRQ entries) */
	CHECK_EQ(16 + rd16(BOOT_MPTABLE_ADDR + 16 + 4), 916 + (N_INTSRC - 23) * 8);
}

static void test_errors(void)
{
	struct errbuf err = {0};

	reset_ram();
	CHECK_EQ(mptable_build(&mem, 0, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "vCPUs");
	CHECK_EQ(mptable_build(&mem, MPTABLE_MAX_VCPUS + 1, &err), -EINVAL);
	gmem_init(&mem, ram, BOOT_MPTABLE_ADDR + 1023); /* one byte short */
	CHECK_EQ(mptable_build(&mem, 1, &err), -EFAULT);
	CHECK_STR_CONTAINS(err.msg, "guest RAM");
	CHECK_EQ(ram[BOOT_MPTABLE_ADDR], FILL);
}

int main(void)
{
	ram = calloc(1, RAM);
	if (!ram)
		return 1;
	RUN(test_one);
	RUN(test_four);
	RUN(test_max);
	RUN(test_errors);
	free(ram);
	return unit_summary("test_mptable");
}
