/* SMP check: start every AP listed in the MP table with INIT/SIPI through the in-kernel LAPIC. */
#include "apic.h"
#include "selftest.h"

#define MP_FLOAT_ADDR  0x9FC00UL /* where the launcher puts the MP floating pointer */
#define TRAMPOLINE     0x70000UL /* real-mode AP entry: SIPI vector 0x70 */
#define AP_COUNTER     (TRAMPOLINE + 0x100)
#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define ICR_INIT       0x00004500U /* INIT, level assert */
#define ICR_STARTUP    0x00004600U /* Start-up IPI */
#define SMP_TIMEOUT_NS 2000000000ULL

/* Real mode at 0x7000:0000: ds = 0x7000; inc byte [0x100]; then cli; hlt forever. */
static const uint8_t trampoline[] = {0xB8, 0x00, 0x70, 0x8E, 0xD8, 0xF0, 0xFE,
				     0x06, 0x00, 0x01, 0xFA, 0xF4, 0xEB, 0xFC};

/* Processor entries (type 0, 20 bytes) in the MP configuration table; 0 if there is none. */
static unsigned mp_cpu_count(void)
{
	const uint8_t *fp = (const uint8_t *)MP_FLOAT_ADDR, *t, *e;
	uint32_t table;
	uint16_t count;
	unsigned cpus = 0;

	if (memcmp(fp, "_MP_", 4) != 0)
		return 0;
	memcpy(&table, fp + 4, 4);
	t = (const uint8_t *)(uintptr_t)table;
	if (table == 0 || table > MP_FLOAT_ADDR + 0x400 || memcmp(t, "PCMP", 4) != 0)
		return 0;
	memcpy(&count, t + 34, 2);
	e = t + 44;
	for (unsigned i = 0; i < count && e < (const uint8_t *)MP_FLOAT_ADDR + 0x400; i++) {
		if (e[0] == 0) {
			cpus++;
			e += 20;
		} else {
			e += 8;
		}
	}
	return cpus;
}

static void send_ipi(uint8_t apic_id, uint32_t icr)
{
	mmio_write32(LAPIC_BASE + LAPIC_ICR_HI, (uint32_t)apic_id << 24);
	mmio_write32(LAPIC_BASE + LAPIC_ICR_LO, icr);
}

void smp_test(void)
{
	unsigned cpus = mp_cpu_count();
	volatile uint8_t *counter = (volatile uint8_t *)AP_COUNTER;
	uint64_t t0;

	if (cpus < 2)
		return;
	memcpy((void *)TRAMPOLINE, trampoline, sizeof(trampoline));
	*counter = 0;
	mb();
	for (unsigned id = 1; id < cpus; id++) {
		send_ipi((uint8_t)id, ICR_INIT);
		send_ipi((uint8_t)id, ICR_STARTUP | (TRAMPOLINE >> 12));
	}
	t0 = clock_ns();
	while (*counter < cpus - 1 && clock_ns() - t0 < SMP_TIMEOUT_NS)
		;
	check(*counter == cpus - 1, "not every AP incremented the counter",
	      "smp %u APs started by INIT/SIPI (%u running)", cpus - 1, (unsigned)*counter);
}
