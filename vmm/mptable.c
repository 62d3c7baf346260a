/* MP floating pointer and MP configuration table (Intel MP spec 1.4, chapter 4) in the EBDA. */
#include "mptable.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "layout.h"
#include "util.h"

struct mpf_intel {	   /* MP floating pointer structure (spec 4.1) */
	char signature[4]; /* "_MP_" */
	uint32_t physptr;  /* MP configuration table address */
	uint8_t length;	   /* in 16-byte paragraphs: 1 */
	uint8_t specrev;   /* 4: version 1.4 */
	uint8_t checksum;  /* all 16 bytes sum to 0 */
	uint8_t feature1;  /* 0: a configuration table is present */
	uint8_t feature2;  /* bit 7 IMCRP 0: virtual wire mode */
	uint8_t feature3[3];
} __attribute__((packed));
static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");

struct mpc_table {	   /* MP configuration table header (spec 4.2) */
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* base table, header included */
	uint8_t spec;	   /* 4 */
	uint8_t checksum;  /* base table sums to 0 */
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count; /* base table entries */
	uint32_t lapic; /* local APIC address */
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));
static_assert(sizeof(struct mpc_table) == 44, "MP configuration table header");
static_assert(offsetof(struct mpc_table, count) == 34, "MP table entry count");

struct mpc_cpu { /* entry type 0 */
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t signature; /* CPUID(1).EAX: stepping, model, family */
	uint32_t features;  /* CPUID(1).EDX */
	uint32_t reserved[2];
} __attribute__((packed));
static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");

struct mpc_bus { /* entry type 1 */
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));
static_assert(sizeof(struct mpc_bus) == 8, "MP bus entry");

struct mpc_ioapic { /* entry type 2 */
	uint8_t type, apicid, apicver, flags;
	uint32_t address;
} __attribute__((packed));
static_assert(sizeof(struct mpc_ioapic) == 8, "MP I/O APIC entry");

struct mpc_intsrc { /* entry types 3 (I/O interrupt) and 4 (local interrupt) */
	uint8_t type, irqtype;
	uint16_t irqflag; /* bits 1-0 polarity, bits 3-2 trigger mode */
	uint8_t srcbus, srcbusirq;
	uint8_t dstapic; /* I/O APIC ID, or local APIC ID (0xFF: all) */
	uint8_t dstirq;	 /* INTIN# or LINTIN# */
} __attribute__((packed));
static_assert(sizeof(struct mpc_intsrc) == 8, "MP interrupt entry");

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define CPU_ENABLED	  0x01U
#define CPU_BOOTPROCESSOR 0x02U
#define CPU_SIGNATURE	  0x600U /* family 6 */
#define CPU_FEATURES	  0x201U /* FPU, APIC */
#define LAPIC_VERSION	  0x14U	 /* KVM's local APIC */
#define IOAPIC_VERSION	  0x11U	 /* KVM's I/O APIC */
#define IOAPIC_PINS	  24U
#define IRQ_EDGE_HIGH	  0x0005U /* polarity 01 active high, trigger 01 edge */
#define IRQ_CONFORMING	  0x0000U
#define ISA_BUS_ID	  0U
#define ALL_LAPICS	  0xFFU
#define N_IRQ_ENTRIES	  (MPTABLE_IRQ0_PIN != 0 ? IOAPIC_PINS - 1 : IOAPIC_PINS)

#define MPTABLE_LEN(n)                                                                             \
	(sizeof(struct mpf_intel) + sizeof(struct mpc_table) + (n) * sizeof(struct mpc_cpu) +      \
	 sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +                                      \
	 (N_IRQ_ENTRIES + 2) * sizeof(struct mpc_intsrc))
static_assert(MPTABLE_LEN(MPTABLE_MAX_VCPUS) <= MPTABLE_MAX_SIZE, "MP table fits in 1 KiB");
static_assert(BOOT_MPTABLE_ADDR + MPTABLE_MAX_SIZE <= BOOT_ACPI_ADDR, "MP table below ACPI");

/* Append one entry at *off in t and count it. */
static void put(uint8_t *t, size_t *off, uint16_t *count, const void *e, size_t n)
{
	memcpy(t + *off, e, n);
	*off += n;
	(*count)++;
}

static void put_cpus(uint8_t *t, size_t *off, uint16_t *count, unsigned n_vcpus)
{
	for (unsigned i = 0; i < n_vcpus; i++) {
		const struct mpc_cpu c = {
		    .type = MP_PROCESSOR,
		    .apicid = (uint8_t)i,
		    .apicver = LAPIC_VERSION,
		    .cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
		    .signature = CPU_SIGNATURE,
		    .features = CPU_FEATURES,
		};

		put(t, off, count, &c, sizeof(c));
	}
}

static void put_irqs(uint8_t *t, size_t *off, uint16_t *count, uint8_t ioapic_id)
{
	for (unsigned irq = 0; irq < IOAPIC_PINS; irq++) {
		const struct mpc_intsrc e = {
		    .type = MP_INTSRC,
		    .irqtype = MP_INT,
		    .irqflag = IRQ_EDGE_HIGH,
		    .srcbus = ISA_BUS_ID,
		    .srcbusirq = (uint8_t)irq,
		    .dstapic = ioapic_id,
		    .dstirq = (uint8_t)(irq == 0 ? MPTABLE_IRQ0_PIN : irq),
		};

		if (irq != 0 && irq == MPTABLE_IRQ0_PIN)
			continue; /* that pin carries IRQ 0 */
		put(t, off, count, &e, sizeof(e));
	}
}

static void put_lints(uint8_t *t, size_t *off, uint16_t *count)
{
	const struct mpc_intsrc extint = {MP_LINTSRC, MP_EXTINT, IRQ_CONFORMING, ISA_BUS_ID, 0,
					  ALL_LAPICS, 0};
	const struct mpc_intsrc nmi = {MP_LINTSRC, MP_NMI, IRQ_CONFORMING, ISA_BUS_ID, 0,
				       ALL_LAPICS, 1};

	put(t, off, count, &extint, sizeof(extint));
	put(t, off, count, &nmi, sizeof(nmi));
}

int mptable_build(const struct guest_mem *m, unsigned n_vcpus, struct errbuf *err)
{
	uint8_t t[MPTABLE_MAX_SIZE];
	struct mpf_intel *mpf = (struct mpf_intel *)t;
	struct mpc_table *mpc = (struct mpc_table *)(t + sizeof(*mpf));
	const struct mpc_bus bus = {MP_BUS, ISA_BUS_ID, {'I', 'S', 'A', ' ', ' ', ' '}};
	const struct mpc_ioapic io = {MP_IOAPIC, (uint8_t)n_vcpus, IOAPIC_VERSION, 1,
				      (uint32_t)IOAPIC_ADDR};
	size_t off = sizeof(*mpf) + sizeof(*mpc);
	uint16_t count = 0;

	if (n_vcpus < 1 || n_vcpus > MPTABLE_MAX_VCPUS)
		return err_set(err, -EINVAL, "mptable: %u vCPUs: expected 1..%u", n_vcpus,
			       MPTABLE_MAX_VCPUS);
	memset(t, 0, sizeof(t));
	put_cpus(t, &off, &count, n_vcpus);
	put(t, &off, &count, &bus, sizeof(bus));
	put(t, &off, &count, &io, sizeof(io));
	put_irqs(t, &off, &count, (uint8_t)n_vcpus);
	put_lints(t, &off, &count);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(off - sizeof(*mpf));
	mpc->spec = 4;
	memcpy(mpc->oem, "MICROVM ", 8);
	memcpy(mpc->product, "MICROVM     ", 12);
	mpc->count = count;
	mpc->lapic = (uint32_t)LAPIC_ADDR;
	mpc->checksum = byte_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(BOOT_MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->specrev = 4;
	mpf->checksum = byte_checksum(mpf, sizeof(*mpf));

	if (gmem_write(m, BOOT_MPTABLE_ADDR, t, sizeof(t)) < 0)
		return err_set(err, -EFAULT, "mptable: guest RAM does not cover 0x%llx-0x%llx",
			       (unsigned long long)BOOT_MPTABLE_ADDR,
			       (unsigned long long)BOOT_MPTABLE_ADDR + MPTABLE_MAX_SIZE - 1);
	return 0;
}
