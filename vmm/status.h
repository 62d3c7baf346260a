/* Process exit statuses of the launcher: guest statuses are 0-63, launcher statuses above. */
#ifndef MICROVM_STATUS_H
#define MICROVM_STATUS_H

enum microvm_status {
	STATUS_GUEST_MAX = 63,	  /* exit port values 0..63 pass through; larger ones map to 63 */
	STATUS_USAGE = 64,	  /* bad command line */
	STATUS_CONFIG = 65,	  /* config file unreadable or invalid */
	STATUS_IMAGE = 66,	  /* kernel/initrd/disk image missing or invalid */
	STATUS_KVM = 67,	  /* /dev/kvm missing, old, or lacking a capability */
	STATUS_INTERNAL = 70,	  /* host-side failure while running (ENOMEM, ioctl error) */
	STATUS_GUEST_PANIC = 71,  /* the guest kernel panicked (pvpanic) */
	STATUS_TRIPLE_FAULT = 72, /* guest triple fault (KVM_EXIT_SHUTDOWN) */
	STATUS_EMULATION = 73,	  /* KVM internal/emulation error, unhandled exit */
	STATUS_SECCOMP = 74,	  /* a thread made a syscall its filter forbids */
	STATUS_JAIL = 75,	  /* a jail step was not permitted */
	STATUS_SIGNAL_BASE = 128, /* SIGINT -> 130, SIGTERM -> 143 */
};

#endif
