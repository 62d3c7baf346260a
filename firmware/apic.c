/* IOAPIC redirection, LAPIC enable and IRR polling, LAPIC-timer clock. */
#include "apic.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_VER    0x01
#define IOAPIC_REDTBL 0x10

#define LAPIC_TPR   0x080
#define LAPIC_SVR   0x0F0
#define LAPIC_IRR   0x200
#define LAPIC_LVTT  0x320
#define LAPIC_TMICT 0x380
#define LAPIC_TMCCT 0x390
#define LAPIC_TDCR  0x3E0

#define LVT_MASKED   (1U << 16)
#define TDCR_DIV_128 0xAU
#define TIMER_SHIFT  7 /* ns per tick = 128 at KVM's 1 GHz APIC bus */

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

static uint32_t lapic_read(uint32_t off)
{
	return mmio_read32(LAPIC_BASE + off);
}

static void lapic_write(uint32_t off, uint32_t v)
{
	mmio_write32(LAPIC_BASE + off, v);
}

void lapic_init(void)
{
	lapic_write(LAPIC_TPR, 0xF0);
	lapic_write(LAPIC_SVR, 0x1FF);
	lapic_write(LAPIC_LVTT, LVT_MASKED | 0xFF);
	lapic_write(LAPIC_TDCR, TDCR_DIV_128);
	lapic_write(LAPIC_TMICT, 0xFFFFFFFFU);
}

uint64_t clock_ns(void)
{
	return (uint64_t)(0xFFFFFFFFU - lapic_read(LAPIC_TMCCT)) << TIMER_SHIFT;
}

bool ioapic_route(uint32_t gsi, uint8_t vector)
{
	uint32_t max = (ioapic_read(IOAPIC_VER) >> 16) & 0xFF;
	if (gsi > max)
		return false;
	/* Mask while changing, destination first, then the low word unmasks. */
	ioapic_write(IOAPIC_REDTBL + 2 * gsi, LVT_MASKED);
	ioapic_write(IOAPIC_REDTBL + 2 * gsi + 1, 0U << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * gsi, vector); /* fixed, physical, high, edge */
	return true;
}

bool lapic_irr_test(uint8_t vector)
{
	return (lapic_read(LAPIC_IRR + 0x10U * (vector / 32U)) >> (vector % 32U)) & 1U;
}

bool lapic_irr_wait(uint8_t vector, uint64_t timeout_ns)
{
	uint64_t start = clock_ns();
	/* Also bounded by iterations, in case the clock does not run. */
	for (uint32_t i = 0; i < 10000000U; i++) {
		if (lapic_irr_test(vector))
			return true;
		if (i % 8 == 7 && clock_ns() - start > timeout_ns)
			return false;
	}
	return false;
}
