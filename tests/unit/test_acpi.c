/* Unit tests for the ACPI tables: build into fake guest RAM, then parse back by spec offsets. */
// SOURCES: vmm/acpi.c vmm/aml.c vmm/guest_mem.c vmm/errors.c
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/acpi.h"
#include "vmm/layout.h"
#include "vmm/vm.h"

#define RAM  (2 * MiB)
#define FILL 0xA5

static uint8_t *ram;
static struct guest_mem mem;
static struct vm_virtio_window win[ACPI_MAX_VIRTIO];

static uint32_t rd16(uint64_t gpa)
{
	return (uint32_t)ram[gpa] | (uint32_t)ram[gpa + 1] << 8;
}

static uint32_t rd32(uint64_t gpa)
{
	return rd16(gpa) | rd16(gpa + 2) << 16;
}

static uint64_t rd64(uint64_t gpa)
{
	return rd32(gpa) | (uint64_t)rd32(gpa + 4) << 32;
}

static uint8_t sum(uint64_t gpa, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s = (uint8_t)(s + ram[gpa + i]);
	return s;
}

/* Occurrences of needle in [gpa, gpa+len). */
static unsigned count_bytes(uint64_t gpa, uint64_t len, const void *needle, size_t n)
{
	unsigned c = 0;

	for (uint64_t i = 0; i + n <= len; i++)
		c += memcmp(ram + gpa + i, needle, n) == 0;
	return c;
}

static void reset_ram(void)
{
	memset(ram, FILL, RAM);
	gmem_init(&mem, ram, RAM);
}

static void make_windows(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		win[i].base = VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE;
		win[i].gsi = VIRTIO_MMIO_GSI_BASE + i % VIRTIO_MMIO_MAX;
	}
}

/* Common header checks (ACPI 6.4 table 5.4); returns the table length. */
static uint32_t check_header(uint64_t gpa, const char *sig, unsigned rev)
{
	uint32_t len = rd32(gpa + 4);

	CHECK(gpa >= BOOT_ACPI_ADDR && gpa % 16 == 0);
	CHECK(gpa + len <= BOOT_DATA_END);
	CHECK(memcmp(ram + gpa, sig, 4) == 0);
	CHECK_EQ(ram[gpa + 8], rev);
	CHECK_EQ(sum(gpa, len), 0);
	CHECK(memcmp(ram + gpa + 10, "MICROV", 6) == 0);
	CHECK(memcmp(ram + gpa + 16, "MICROVM ", 8) == 0);
	CHECK(memcmp(ram + gpa + 28, "MVMM", 4) == 0);
	return len;
}

/* No byte outside [BOOT_ACPI_ADDR, BOOT_DATA_END) changed. */
static void check_outside_untouched(void)
{
	int ok = 1;

	for (uint64_t i = 0; i < RAM; i++) {
		if (i == BOOT_ACPI_ADDR)
			i = BOOT_DATA_END;
		if (ram[i] != FILL)
			ok = 0;
	}
	CHECK(ok);
}

struct tables {
	uint64_t xsdt, rsdt, fadt, madt, dsdt;
};

static void check_rsdp(uint64_t rsdp, struct tables *t)
{
	CHECK_EQ(rsdp, BOOT_ACPI_ADDR);
	CHECK(memcmp(ram + rsdp, "RSD PTR ", 8) == 0);
	CHECK_EQ(sum(rsdp, 20), 0);
	CHECK_EQ(sum(rsdp, 36), 0);
	CHECK(memcmp(ram + rsdp + 9, "MICROV", 6) == 0);
	CHECK_EQ(ram[rsdp + 15], 2);
	CHECK_EQ(rd32(rsdp + 20), 36);
	t->rsdt = rd32(rsdp + 16);
	t->xsdt = rd64(rsdp + 24);
}

/* XSDT and RSDT list the same two tables, FADT and MADT. */
static void check_xsdt_rsdt(struct tables *t)
{
	CHECK_EQ(check_header(t->xsdt, "XSDT", 1), 36 + 2 * 8);
	CHECK_EQ(check_header(t->rsdt, "RSDT", 1), 36 + 2 * 4);
	t->fadt = rd64(t->xsdt + 36);
	t->madt = rd64(t->xsdt + 44);
	CHECK_EQ(rd32(t->rsdt + 36), t->fadt);
	CHECK_EQ(rd32(t->rsdt + 40), t->madt);
}

static void check_fadt(struct tables *t)
{
	uint64_t f = t->fadt;
	uint32_t flags;

	CHECK_EQ(check_header(f, "FACP", 6), 276);
	t->dsdt = rd32(f + 40);
	CHECK_EQ(rd64(f + 140), t->dsdt); /* X_DSDT */
	CHECK_EQ(rd32(f + 36), 0);	  /* no FACS */
	CHECK_EQ(rd64(f + 132), 0);
	flags = rd32(f + 112);
	CHECK(flags & (1U << 20));	      /* HW_REDUCED_ACPI */
	CHECK(flags & (1U << 10));	      /* RESET_REG_SUP */
	CHECK(flags & (1U << 4));	      /* PWR_BUTTON: none as a fixed feature */
	CHECK(flags & (1U << 5));	      /* SLP_BUTTON */
	CHECK_EQ(rd16(f + 109) & 0x3F, 0x2F); /* legacy, 8042, no VGA, no MSI, no CMOS RTC */
	CHECK_EQ(ram[f + 116], 1);	      /* RESET_REG: System I/O */
	CHECK_EQ(ram[f + 117], 8);
	CHECK_EQ(rd64(f + 120), 0x64);
	CHECK_EQ(ram[f + 128], 0xFE);
	CHECK_EQ(ram[f + 131], 4); /* FADT minor version: ACPI 6.4 */
	CHECK_EQ(rd16(f + 46), 0); /* SCI_INT */
	/* SLEEP_CONTROL_REG and SLEEP_STATUS_REG: byte-wide System I/O ports 0x600 and 0x601. */
	CHECK_EQ(ram[f + 244], 1);
	CHECK_EQ(ram[f + 245], 8);
	CHECK_EQ(ram[f + 247], 1);
	CHECK_EQ(rd64(f + 248), 0x600);
	CHECK_EQ(ram[f + 256], 1);
	CHECK_EQ(ram[f + 257], 8);
	CHECK_EQ(rd64(f + 260), 0x601);
	CHECK(memcmp(ram + f + 268, "MICROVM ", 8) == 0);
}

/* MADT: n_vcpus local APICs, one I/O APIC, the IRQ 0 override and the LINT1 NMI. */
static void check_madt(uint64_t m, unsigned n_vcpus)
{
	uint32_t len = check_header(m, "APIC", 5);
	unsigned entries = 0, lapics = 0, ioapics = 0, isos = 0, nmis = 0;

	CHECK_EQ(len, 44 + 8 * n_vcpus + 12 + 10 + 6);
	CHECK_EQ(rd32(m + 36), LAPIC_ADDR);
	CHECK_EQ(rd32(m + 40), 1); /* PCAT_COMPAT */
	for (uint64_t e = m + 44; e < m + len; e += ram[e + 1], entries++) {
		CHECK(ram[e + 1] >= 2);
		if (ram[e + 1] < 2)
			return;
		switch (ram[e]) {
		case 0:
			CHECK_EQ(ram[e + 1], 8);
			CHECK_EQ(ram[e + 2], lapics); /* ACPI Processor UID */
			CHECK_EQ(ram[e + 3], lapics); /* APIC ID */
			CHECK_EQ(rd32(e + 4), 1);     /* enabled */
			lapics++;
			break;
		case 1:
			CHECK_EQ(ram[e + 1], 12);
			CHECK_EQ(ram[e + 2], n_vcpus);
			CHECK_EQ(rd32(e + 4), IOAPIC_ADDR);
			CHECK_EQ(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2:
			CHECK_EQ(ram[e + 1], 10);
			CHECK_EQ(ram[e + 2], 0); /* ISA */
			CHECK_EQ(ram[e + 3], 0); /* IRQ 0 */
			CHECK_EQ(rd32(e + 4), ACPI_IRQ0_GSI);
			isos++;
			break;
		case 4:
			CHECK_EQ(ram[e + 1], 6);
			CHECK_EQ(ram[e + 2], 0xFF);
			CHECK_EQ(ram[e + 5], 1); /* LINT1 */
			nmis++;
			break;
		default:
			CHECK(0);
		}
	}
	CHECK_EQ(entries, n_vcpus + 3);
	CHECK_EQ(lapics, n_vcpus);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 1);
	CHECK_EQ(nmis, 1);
}

/* The _CRS bytes of window w: Memory32Fixed (RW, base, 0x1000), Interrupt (consumer, edge,
 * active high, exclusive) {gsi}. */
static void crs_bytes(uint8_t out[21], const struct vm_virtio_window *w)
{
	const uint8_t tmpl[21] = {0x86, 0x09, 0x00, 0x01, 0,	0,    0, 0, 0x00, 0x10, 0x00,
				  0x00, 0x89, 0x06, 0x00, 0x03, 0x01, 0, 0, 0,	  0};

	memcpy(out, tmpl, sizeof(tmpl));
	for (int i = 0; i < 4; i++) {
		out[4 + i] = (uint8_t)(w->base >> (8 * i));
		out[17 + i] = (uint8_t)(w->gsi >> (8 * i));
	}
}

static void check_dsdt(uint64_t d, unsigned n_vcpus, unsigned n_virtio)
{
	uint32_t len = check_header(d, "DSDT", 2);
	const uint8_t com1_hid[] = {0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01};
	const uint8_t com1_io[] = {0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03,
				   0x01, 0x08, 0x22, 0x10, 0x00};
	/* Name (\_S5_, Package (2) { 5, 0 }) first. */
	const uint8_t s5[] = {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0A, 0x05, 0x00};
	/* Device (PEVT) { _HID "QEMU0001" ... _CRS { IO (0x505, 0x505, 1, 1) } } */
	const uint8_t pvpanic_io[] = {0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, 0x79, 0x00};
	const uint64_t sb = d + 36 + sizeof(s5);
	uint8_t pkg0 = ram[sb + 1], crs[21];

	CHECK(memcmp(ram + d + 36, s5, sizeof(s5)) == 0);
	/* Scope (\_SB_) spans the rest: a two-byte PkgLength unless the DSDT is tiny. */
	CHECK_EQ(ram[sb], 0x10);
	if ((pkg0 >> 6) == 1)
		CHECK_EQ(((uint32_t)ram[sb + 2] << 4 | (pkg0 & 0xF)) + (sb + 1 - d), len);
	else if ((pkg0 >> 6) == 2)
		CHECK_EQ(((uint32_t)ram[sb + 3] << 12 | (uint32_t)ram[sb + 2] << 4 | (pkg0 & 0xF)) +
			     (sb + 1 - d),
			 len);
	CHECK_EQ(count_bytes(d, len, "QEMU0001", 8), 1);
	CHECK_EQ(count_bytes(d, len, pvpanic_io, sizeof(pvpanic_io)), 1);
	CHECK_EQ(count_bytes(d, len, "\\_SB_", 5), 1);
	CHECK_EQ(count_bytes(d, len, "ACPI0007", 8), n_vcpus);
	CHECK_EQ(count_bytes(d, len, "LNRO0005", 8), n_virtio);
	CHECK_EQ(count_bytes(d, len, com1_hid, sizeof(com1_hid)), 1);
	CHECK_EQ(count_bytes(d, len, com1_io, sizeof(com1_io)), 1);
	for (unsigned i = 0; i < n_virtio; i++) {
		crs_bytes(crs, &win[i]);
		CHECK_EQ(count_bytes(d, len, crs, sizeof(crs)), 1);
	}
}

static void build_and_check(unsigned n_vcpus, unsigned n_virtio)
{
	struct acpi_config c = {n_vcpus, n_virtio ? win : NULL, n_virtio};
	struct errbuf err = {0};
	struct tables t;
	uint64_t rsdp = 0;

	reset_ram();
	make_windows(n_virtio);
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), 0);
	check_rsdp(rsdp, &t);
	check_xsdt_rsdt(&t);
	check_fadt(&t);
	check_madt(t.madt, n_vcpus);
	check_dsdt(t.dsdt, n_vcpus, n_virtio);
	/* In order, no overlaps: RSDP < XSDT < RSDT < FADT < MADT < DSDT. */
	CHECK(rsdp + 36 <= t.xsdt && t.xsdt + 52 <= t.rsdt && t.rsdt + 44 <= t.fadt);
	CHECK(t.fadt + 276 <= t.madt && t.madt + rd32(t.madt + 4) <= t.dsdt);
	check_outside_untouched();
}

static void test_one_cpu_no_devices(void)
{
	build_and_check(1, 0);
}

static void test_typical(void)
{
	build_and_check(2, 3);
}

static void test_max(void)
{
	build_and_check(32, VIRTIO_MMIO_MAX);
}

static void test_many_windows_fit(void)
{
	build_and_check(32, 1000); /* windows share GSIs here; the DSDT must still fit */
}

static void test_bad_config(void)
{
	struct errbuf err = {0};
	struct acpi_config c = {0, NULL, 0};
	uint64_t rsdp = 0;

	reset_ram();
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "vCPUs");
	c.n_vcpus = 33;
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	c.n_vcpus = 1;
	c.n_virtio = 1; /* no array */
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	make_windows(2);
	c.virtio = win;
	c.n_virtio = 2;
	win[1].gsi = ACPI_IOAPIC_PINS;
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "window 1");
	make_windows(2);
	win[0].base = 0x100000000ULL - VIRTIO_MMIO_SIZE + 1;
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	c.n_virtio = ACPI_MAX_VIRTIO + 1;
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EINVAL);
	CHECK_EQ(rsdp, 0);
	check_outside_untouched();
}

static void test_enospc(void)
{
	struct errbuf err = {0};
	struct acpi_config c = {32, win, ACPI_MAX_VIRTIO};
	uint64_t rsdp = 0;

	reset_ram();
	make_windows(ACPI_MAX_VIRTIO); /* ~60 bytes of AML each: far more than 128 KiB */
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "does not fit");
	CHECK_EQ(rsdp, 0);
	check_outside_untouched();
}

static void test_small_ram(void)
{
	struct errbuf err = {0};
	struct acpi_config c = {1, NULL, 0};
	uint64_t rsdp = 0;

	gmem_init(&mem, ram, 512 * KiB);
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EFAULT);
	CHECK_STR_CONTAINS(err.msg, "guest RAM");
	gmem_init(&mem, ram, BOOT_DATA_END - 1); /* one byte short */
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), -EFAULT);
	gmem_init(&mem, ram, BOOT_DATA_END);
	CHECK_EQ(acpi_build(&mem, &c, &rsdp, &err), 0);
	CHECK_EQ(rsdp, BOOT_ACPI_ADDR);
}

/* With ACPI_DUMP_DIR set: write a typical VM's FACP, APIC and DSDT there for `iasl -d`. */
static void dump_tables(const char *dir)
{
	const char *names[] = {"facp", "apic", "dsdt"};
	struct tables t;
	uint64_t at[3];
	char path[512];

	build_and_check(4, 3);
	check_rsdp(BOOT_ACPI_ADDR, &t);
	check_xsdt_rsdt(&t);
	check_fadt(&t);
	at[0] = t.fadt;
	at[1] = t.madt;
	at[2] = t.dsdt;
	for (int i = 0; i < 3; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, names[i]);
		f = fopen(path, "wb");
		CHECK(f != NULL);
		if (!f)
			continue;
		CHECK_EQ(fwrite(ram + at[i], 1, rd32(at[i] + 4), f), rd32(at[i] + 4));
		fclose(f);
	}
}

int main(void)
{
	ram = calloc(1, RAM);
	if (!ram)
		return 1;
	if (getenv("ACPI_DUMP_DIR")) {
		dump_tables(getenv("ACPI_DUMP_DIR"));
		free(ram);
		return unit_summary("test_acpi (dump)");
	}
	RUN(test_one_cpu_no_devices);
	RUN(test_typical);
	RUN(test_max);
	RUN(test_many_windows_fit);
	RUN(test_bad_config);
	RUN(test_enospc);
	RUN(test_small_ram);
	free(ram);
	return unit_summary("test_acpi");
}
