/* ACPI table construction in guest RAM (ACPI 6.4 chapter 5); the DSDT's AML comes from aml.c. */
#include "acpi.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "aml.h"
#include "layout.h"
#include "util.h"
#include "vm.h"

#define OEM_ID	      "MICROV"
#define OEM_TABLE_ID  "MICROVM "
#define OEM_REVISION  1U
#define CREATOR_ID    "MVMM" /* we are the "ASL compiler" of the DSDT too */
#define CREATOR_REV   1U
#define HYPERVISOR_ID "MICROVM " /* FADT Hypervisor Vendor Identity */

#define AREA_START  BOOT_ACPI_ADDR
#define AREA_END    BOOT_DATA_END
#define TABLE_ALIGN 16U

struct sdt_header {
	char signature[4];
	uint32_t length; /* whole table, header included */
	uint8_t revision;
	uint8_t checksum; /* all bytes of the table sum to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
static_assert(sizeof(struct sdt_header) == 36, "SDT header");

struct rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* bytes 0-19 */
	char oem_id[6];
	uint8_t revision; /* 2: ACPI 2.0+ fields follow */
	uint32_t rsdt_address;
	uint32_t length; /* 36 */
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));
static_assert(sizeof(struct rsdp) == 36, "RSDP");
static_assert(offsetof(struct rsdp, xsdt_address) == 24, "RSDP XsdtAddress");

/* Generic Address Structure (ACPI 6.4 section 5.2.3.2). */
struct gas {
	uint8_t space_id; /* 1: System I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* 1: byte */
	uint64_t address;
} __attribute__((packed));
static_assert(sizeof(struct gas) == 12, "GAS");

/* FADT, revision 6 (ACPI 6.4 table 5.9). */
struct fadt {
	struct sdt_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct gas sleep_control_reg, sleep_status_reg;
	char hypervisor_vendor_id[8];
} __attribute__((packed));
static_assert(sizeof(struct fadt) == 276, "FADT revision 6");
static_assert(offsetof(struct fadt, dsdt) == 40, "FADT DSDT");
static_assert(offsetof(struct fadt, p_lvl2_lat) == 96, "FADT P_LVL2_LAT");
static_assert(offsetof(struct fadt, iapc_boot_arch) == 109, "FADT IAPC_BOOT_ARCH");
static_assert(offsetof(struct fadt, flags) == 112, "FADT Flags");
static_assert(offsetof(struct fadt, reset_reg) == 116, "FADT RESET_REG");
static_assert(offsetof(struct fadt, minor_version) == 131, "FADT minor version");
static_assert(offsetof(struct fadt, x_dsdt) == 140, "FADT X_DSDT");
static_assert(offsetof(struct fadt, sleep_control_reg) == 244, "FADT SLEEP_CONTROL_REG");
static_assert(offsetof(struct fadt, hypervisor_vendor_id) == 268, "FADT hypervisor id");

/* FADT Flags (ACPI 6.4 table 5.10). */
#define FADT_F_WBINVD	     (1U << 0)	/* WBINVD flushes caches */
#define FADT_F_PROC_C1	     (1U << 2)	/* C1 (HLT) works on all processors */
#define FADT_F_PWR_BUTTON    (1U << 4)	/* no fixed-feature power button */
#define FADT_F_SLP_BUTTON    (1U << 5)	/* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP (1U << 10) /* RESET_REG/RESET_VALUE are valid */
#define FADT_F_HEADLESS	     (1U << 12) /* no monitor, keyboard or mouse */
#define FADT_F_HW_REDUCED    (1U << 20) /* hardware-reduced ACPI: no fixed hardware, no SCI */

/* IA-PC Boot Architecture Flags (ACPI 6.4 table 5.11). */
#define IAPC_LEGACY_DEVICES	  (1U << 0) /* user-visible ISA/LPC devices (the COM1 UART) */
#define IAPC_8042		  (1U << 1) /* an 8042 at 0x60/0x64 */
#define IAPC_VGA_NOT_PRESENT	  (1U << 2)
#define IAPC_MSI_NOT_SUPPORTED	  (1U << 3)
#define IAPC_CMOS_RTC_NOT_PRESENT (1U << 5)

#define FADT_MINOR_VERSION 4U	 /* ACPI 6.4, errata 0 */
#define P_LVL2_LAT_NONE	   101U	 /* > 100: C2 not supported */
#define P_LVL3_LAT_NONE	   1001U /* > 1000: C3 not supported */
#define GAS_SYSTEM_IO	   1U
#define GAS_ACCESS_BYTE	   1U
#define RESET_PORT	   I8042_COMMAND
#define RESET_VALUE	   0xFEU /* i8042 "pulse reset line" */

/* MADT (ACPI 6.4 section 5.2.12). */
struct madt_header {
	struct sdt_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));
static_assert(sizeof(struct madt_header) == 44, "MADT header");

struct madt_lapic { /* type 0 */
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags; /* bit 0: enabled */
} __attribute__((packed));
static_assert(sizeof(struct madt_lapic) == 8, "MADT Processor Local APIC");

struct madt_ioapic { /* type 1 */
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
static_assert(sizeof(struct madt_ioapic) == 12, "MADT I/O APIC");

struct madt_iso { /* type 2: Interrupt Source Override */
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags; /* MPS INTI flags; 0: conforms to the bus (ISA: edge, active high) */
} __attribute__((packed));
static_assert(sizeof(struct madt_iso) == 10, "MADT Interrupt Source Override");

struct madt_lapic_nmi {			     /* type 4 */
	uint8_t type, length, processor_uid; /* 0xFF: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));
static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT Local APIC NMI");

#define MADT_REVISION	   5U	     /* ACPI 6.3/6.4 */
#define MADT_PCAT_COMPAT   (1U << 0) /* dual 8259s present: the OS must mask them */
#define MADT_LAPIC_ENABLED (1U << 0)
#define MADT_ALL_CPUS	   0xFFU

#define MADT_MAX_LEN                                                                               \
	(sizeof(struct madt_header) + ACPI_MAX_VCPUS * sizeof(struct madt_lapic) +                 \
	 sizeof(struct madt_ioapic) + sizeof(struct madt_iso) + sizeof(struct madt_lapic_nmi))

#define N_SDT	 2U /* XSDT/RSDT entries: FADT, MADT */
#define XSDT_LEN (sizeof(struct sdt_header) + 8U * N_SDT)
#define RSDT_LEN (sizeof(struct sdt_header) + 4U * N_SDT)

struct placement {
	uint64_t rsdp, xsdt, rsdt, fadt, madt, dsdt;
	size_t madt_len;
};

static uint64_t align_up(uint64_t v)
{
	return (v + TABLE_ALIGN - 1) & ~(uint64_t)(TABLE_ALIGN - 1);
}

/* Fill a header; the checksum is set by sdt_finish once the table is complete. */
static void sdt_init(struct sdt_header *h, const char sig[4], size_t len, uint8_t rev)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, sig, 4);
	h->length = (uint32_t)len;
	h->revision = rev;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = OEM_REVISION;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = CREATOR_REV;
}

static void sdt_finish(void *table)
{
	struct sdt_header *h = table;

	h->checksum = 0;
	h->checksum = byte_checksum(table, h->length);
}

static int check_config(const struct acpi_config *c, struct errbuf *err)
{
	if (c->n_vcpus < 1 || c->n_vcpus > ACPI_MAX_VCPUS)
		return err_set(err, -EINVAL, "acpi: %u vCPUs: expected 1..%u", c->n_vcpus,
			       ACPI_MAX_VCPUS);
	if (c->n_virtio > ACPI_MAX_VIRTIO || (c->n_virtio && !c->virtio))
		return err_set(err, -EINVAL, "acpi: %u virtio-mmio windows: expected 0..%u",
			       c->n_virtio, ACPI_MAX_VIRTIO);
	for (unsigned i = 0; i < c->n_virtio; i++) {
		const struct vm_virtio_window *w = &c->virtio[i];

		if (w->base > 0x100000000ULL - VIRTIO_MMIO_SIZE || w->gsi >= ACPI_IOAPIC_PINS)
			return err_set(err, -EINVAL,
				       "acpi: virtio-mmio window %u (0x%llx, GSI %u) is not "
				       "below 4 GiB with a GSI below %u",
				       i, (unsigned long long)w->base, w->gsi, ACPI_IOAPIC_PINS);
	}
	return 0;
}

static void place(struct placement *p, unsigned n_vcpus)
{
	p->madt_len = sizeof(struct madt_header) + n_vcpus * sizeof(struct madt_lapic) +
		      sizeof(struct madt_ioapic) + sizeof(struct madt_iso) +
		      sizeof(struct madt_lapic_nmi);
	p->rsdp = AREA_START;
	p->xsdt = align_up(p->rsdp + sizeof(struct rsdp));
	p->rsdt = align_up(p->xsdt + XSDT_LEN);
	p->fadt = align_up(p->rsdt + RSDT_LEN);
	p->madt = align_up(p->fadt + sizeof(struct fadt));
	p->dsdt = align_up(p->madt + p->madt_len);
}

/* A four-character name: prefix then i as three hex digits (C000, V01F). */
static void hex_name(char out[5], char prefix, unsigned i)
{
	static const char hex[] = "0123456789ABCDEF";

	out[0] = prefix;
	out[1] = hex[(i >> 8) & 0xF];
	out[2] = hex[(i >> 4) & 0xF];
	out[3] = hex[i & 0xF];
	out[4] = '\0';
}

/* Open Device (name) { Name (_HID, "hid") Name (_UID, uid) ... }; returns the mark for
 * aml_device_end. */
static size_t device_begin(struct aml_buf *b, const char *name, const char *hid, uint64_t uid)
{
	size_t dev = aml_device_begin(b, name);

	aml_name_decl(b, "_HID");
	aml_string(b, hid);
	aml_name_decl(b, "_UID");
	aml_integer(b, uid);
	return dev;
}

/* Device (Cxxx) { Name (_HID, "ACPI0007") Name (_UID, i) }: the processor object whose _UID
 * matches the MADT's ACPI Processor UID. */
static void aml_cpu(struct aml_buf *b, unsigned i)
{
	char name[5];

	hex_name(name, 'C', i);
	aml_device_end(b, device_begin(b, name, "ACPI0007", i));
}

static void aml_com1(struct aml_buf *b)
{
	size_t dev, crs;

	dev = aml_device_begin(b, "COM1");
	aml_name_decl(b, "_HID");
	aml_eisaid(b, "PNP0501"); /* 16550A-compatible serial port */
	aml_name_decl(b, "_UID");
	aml_integer(b, 0);
	aml_name_decl(b, "_CRS");
	crs = aml_restemplate_begin(b);
	aml_res_io(b, COM1_PORT, COM1_PORT, 1, 8);
	aml_res_irq_noflags(b, COM1_IRQ);
	aml_restemplate_end(b, crs);
	aml_device_end(b, dev);
}

static void aml_virtio(struct aml_buf *b, unsigned i, const struct vm_virtio_window *w)
{
	char name[5];
	size_t dev, crs;

	hex_name(name, 'V', i);
	/* LNRO0005: virtio-mmio, as Linux's virtio_mmio driver matches it */
	dev = device_begin(b, name, "LNRO0005", i);
	aml_name_decl(b, "_CRS");
	crs = aml_restemplate_begin(b);
	aml_res_memory32_fixed(b, true, (uint32_t)w->base, (uint32_t)VIRTIO_MMIO_SIZE);
	aml_res_ext_irq(b, AML_IRQ_CONSUMER | AML_IRQ_EDGE, w->gsi);
	aml_restemplate_end(b, crs);
	aml_device_end(b, dev);
}

/* Device (PEVT) { _HID "QEMU0001", _CRS { IO (PVPANIC_PORT, 1) } }: Linux's pvpanic-mmio
 * driver binds it (an I/O resource is accepted) and writes 1 there when the kernel panics. */
static void aml_pvpanic(struct aml_buf *b)
{
	size_t dev, crs;

	dev = device_begin(b, "PEVT", "QEMU0001", 0);
	aml_name_decl(b, "_CRS");
	crs = aml_restemplate_begin(b);
	aml_res_io(b, PVPANIC_PORT, PVPANIC_PORT, 1, 1);
	aml_restemplate_end(b, crs);
	aml_device_end(b, dev);
}

/* Name (\_S5_, Package (2) { SLP_TYP, 0 }): soft-off is the one sleep state, entered by
 * writing SLP_TYP with SLP_EN to the FADT's sleep control register. */
static void aml_s5(struct aml_buf *b)
{
	size_t pkg;

	aml_name_decl(b, "\\_S5_");
	pkg = aml_package_begin(b, 2);
	aml_integer(b, ACPI_SLP_TYP_S5);
	aml_integer(b, 0);
	aml_package_end(b, pkg);
}

/* The DSDT at gpa: header, \_S5_, then Scope (\_SB_) { processors, COM1, pvpanic, virtio }. */
static int build_dsdt(const struct guest_mem *m, uint64_t gpa, const struct acpi_config *c,
		      struct errbuf *err)
{
	uint64_t cap = AREA_END - gpa;
	uint8_t *t = gmem_ptr(m, gpa, cap);
	struct aml_buf b;
	size_t sb;
	int rc;

	if (!t)
		return err_set(err, -EFAULT, "acpi: guest RAM does not cover the DSDT");
	aml_init(&b, t + sizeof(struct sdt_header), cap - sizeof(struct sdt_header));
	aml_s5(&b);
	sb = aml_scope_begin(&b, "\\_SB_");
	for (unsigned i = 0; i < c->n_vcpus; i++)
		aml_cpu(&b, i);
	aml_com1(&b);
	aml_pvpanic(&b);
	for (unsigned i = 0; i < c->n_virtio; i++)
		aml_virtio(&b, i, &c->virtio[i]);
	aml_scope_end(&b, sb);
	rc = aml_status(&b);
	if (rc == -ENOSPC)
		return err_set(err, rc,
			       "acpi: the DSDT for %u vCPUs and %u virtio-mmio windows "
			       "does not fit below 0x%llx",
			       c->n_vcpus, c->n_virtio, (unsigned long long)AREA_END);
	if (rc)
		return err_set(err, rc, "acpi: DSDT: invalid AML argument");
	/* Revision 2: integers are 64 bits wide. */
	sdt_init((struct sdt_header *)t, "DSDT", sizeof(struct sdt_header) + b.len, 2);
	sdt_finish(t);
	return 0;
}

static int build_madt(const struct guest_mem *m, const struct placement *p, unsigned n_vcpus)
{
	uint8_t t[MADT_MAX_LEN];
	struct madt_header *h = (struct madt_header *)t;
	size_t off = sizeof(*h);
	const struct madt_ioapic io = {1, sizeof(struct madt_ioapic), (uint8_t)n_vcpus,
				       0, (uint32_t)IOAPIC_ADDR,      0};
	const struct madt_iso iso = {2, sizeof(struct madt_iso), 0, 0, ACPI_IRQ0_GSI, 0};
	const struct madt_lapic_nmi nmi = {4, sizeof(struct madt_lapic_nmi), MADT_ALL_CPUS, 0, 1};

	memset(t, 0, sizeof(t));
	sdt_init(&h->h, "APIC", p->madt_len, MADT_REVISION);
	h->lapic_address = (uint32_t)LAPIC_ADDR;
	h->flags = MADT_PCAT_COMPAT;
	for (unsigned i = 0; i < n_vcpus; i++) {
		const struct madt_lapic l = {0, sizeof(struct madt_lapic), (uint8_t)i, (uint8_t)i,
					     MADT_LAPIC_ENABLED};

		memcpy(t + off, &l, sizeof(l));
		off += sizeof(l);
	}
	memcpy(t + off, &io, sizeof(io));
	off += sizeof(io);
	memcpy(t + off, &iso, sizeof(iso));
	off += sizeof(iso);
	memcpy(t + off, &nmi, sizeof(nmi));
	sdt_finish(t);
	return gmem_write(m, p->madt, t, p->madt_len);
}

static int build_fadt(const struct guest_mem *m, const struct placement *p)
{
	struct fadt f;

	memset(&f, 0, sizeof(f));
	sdt_init(&f.h, "FACP", sizeof(f), 6);
	f.dsdt = (uint32_t)p->dsdt;
	f.x_dsdt = p->dsdt;
	f.p_lvl2_lat = P_LVL2_LAT_NONE;
	f.p_lvl3_lat = P_LVL3_LAT_NONE;
	f.iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT |
			   IAPC_MSI_NOT_SUPPORTED | IAPC_CMOS_RTC_NOT_PRESENT;
	f.flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
		  FADT_F_RESET_REG_SUP | FADT_F_HEADLESS | FADT_F_HW_REDUCED;
	f.reset_reg = (struct gas){GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, RESET_PORT};
	f.reset_value = RESET_VALUE;
	f.sleep_control_reg =
	    (struct gas){GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, ACPI_SLEEP_CONTROL_PORT};
	f.sleep_status_reg =
	    (struct gas){GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE, ACPI_SLEEP_STATUS_PORT};
	f.minor_version = FADT_MINOR_VERSION;
	memcpy(f.hypervisor_vendor_id, HYPERVISOR_ID, 8);
	sdt_finish(&f);
	return gmem_write(m, p->fadt, &f, sizeof(f));
}

/* XSDT (64-bit entries) and RSDT (32-bit entries, for OSes that predate ACPI 2.0), both
 * listing the FADT first, then the MADT. */
static int build_xsdt_rsdt(const struct guest_mem *m, const struct placement *p)
{
	uint8_t x[XSDT_LEN], r[RSDT_LEN];
	const uint64_t tables[N_SDT] = {p->fadt, p->madt};
	int rc;

	sdt_init((struct sdt_header *)x, "XSDT", sizeof(x), 1);
	sdt_init((struct sdt_header *)r, "RSDT", sizeof(r), 1);
	for (unsigned i = 0; i < N_SDT; i++) {
		uint32_t t32 = (uint32_t)tables[i];

		memcpy(x + sizeof(struct sdt_header) + 8 * i, &tables[i], 8);
		memcpy(r + sizeof(struct sdt_header) + 4 * i, &t32, 4);
	}
	sdt_finish(x);
	sdt_finish(r);
	rc = gmem_write(m, p->xsdt, x, sizeof(x));
	return rc ? rc : gmem_write(m, p->rsdt, r, sizeof(r));
}

static int build_rsdp(const struct guest_mem *m, const struct placement *p)
{
	struct rsdp r;

	memset(&r, 0, sizeof(r));
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, OEM_ID, 6);
	r.revision = 2;
	r.rsdt_address = (uint32_t)p->rsdt;
	r.length = sizeof(r);
	r.xsdt_address = p->xsdt;
	r.checksum = byte_checksum(&r, 20);
	r.extended_checksum = byte_checksum(&r, sizeof(r));
	return gmem_write(m, p->rsdp, &r, sizeof(r));
}

int acpi_build(const struct guest_mem *m, const struct acpi_config *c, uint64_t *rsdp_addr,
	       struct errbuf *err)
{
	struct placement p;
	uint8_t *fixed;
	int rc;

	rc = check_config(c, err);
	if (rc)
		return rc;
	if (!gmem_ptr(m, AREA_START, AREA_END - AREA_START))
		return err_set(err, -EFAULT, "acpi: guest RAM does not cover 0x%llx-0x%llx",
			       (unsigned long long)AREA_START, (unsigned long long)AREA_END - 1);
	place(&p, c->n_vcpus);
	/* Zero the fixed tables and the gaps between them; the DSDT overwrites its own bytes. */
	fixed = gmem_ptr(m, AREA_START, p.dsdt - AREA_START);
	if (!fixed)
		return err_set(err, -EFAULT, "acpi: guest RAM does not cover the tables");
	memset(fixed, 0, p.dsdt - AREA_START);
	rc = build_dsdt(m, p.dsdt, c, err);
	if (rc)
		return rc;
	rc = build_madt(m, &p, c->n_vcpus);
	if (!rc)
		rc = build_fadt(m, &p);
	if (!rc)
		rc = build_xsdt_rsdt(m, &p);
	if (!rc)
		rc = build_rsdp(m, &p);
	if (rc)
		return err_set(err, rc, "acpi: writing the tables to guest RAM failed");
	*rsdp_addr = p.rsdp;
	return 0;
}
