/* IOAPIC routing, LAPIC IRR polling, and a clock from the LAPIC timer. Interrupts are never
 * taken (IF stays 0): the IRR shows that an interrupt reached the LAPIC. */
#ifndef FW_APIC_H
#define FW_APIC_H

#include "fw.h"

#define IOAPIC_BASE 0xFEC00000UL
#define LAPIC_BASE  0xFEE00000UL

#define APIC_VECTOR_BASE 0x40U /* a device on GSI g is routed to vector 0x40 + g */

/* Software-enable the LAPIC (SVR 0x1FF), raise TPR so that nothing is ever presented for
 * delivery, and start the timer used by clock_ns (one-shot, masked). */
void lapic_init(void);

/* IOAPIC redirection entry for gsi: fixed delivery, physical destination APIC ID 0, edge,
 * active high, unmasked, vector. False if the IOAPIC has no such pin. */
bool ioapic_route(uint32_t gsi, uint8_t vector);

bool lapic_irr_test(uint8_t vector);

/* Poll the IRR bit for vector until set or timeout_ns elapse; true if seen. */
bool lapic_irr_wait(uint8_t vector, uint64_t timeout_ns);

/* Nanoseconds since lapic_init (KVM's LAPIC timer ticks at 1 GHz before the divider);
 * resolution 128 ns, range about 549 s, after which it stays at the maximum. */
uint64_t clock_ns(void);

#endif
