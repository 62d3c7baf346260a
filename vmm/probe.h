/* microvm --probe: report KVM's capabilities and whether guests can take exceptions here. */
#ifndef MICROVM_PROBE_H
#define MICROVM_PROBE_H

/* Print one "key: value" line per fact to stdout; returns 0, or STATUS_KVM when /dev/kvm is
 * unusable for microvm. The line "guest-exceptions: yes" means a guest can take exceptions
 * and interrupts (full Linux boots are possible); "no (...)" says what happened instead. */
int probe_run(void);

#endif
