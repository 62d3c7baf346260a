/* microvm --probe: report KVM's capabilities and whether guests can take exceptions here. */
#ifndef MICROVM_PROBE_H
#define MICROVM_PROBE_H

/* Print one "key: value" line per fact to stdout; returns 0, or STATUS_KVM when /dev/kvm is
 * unusable for microvm. "guest-exceptions: yes" means a 64-bit guest took a #UD through its
 * IDT; "guest-interrupts: yes" means it took a self-IPI after sti (both are needed for a full
 * Linux boot); "no (...)" says what happened instead. "guest-cpu: native" or "emulated"
 * says whether guest kernel code runs at hardware speed (a full Linux boot in a test is only
 * practical when it does). */
int probe_run(void);

#endif
