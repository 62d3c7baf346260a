/* vCPUs: creation (CPUID, boot registers), the KVM_RUN loop, per-exit-reason counters. */
#ifndef MICROVM_VCPU_H
#define MICROVM_VCPU_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

struct vm;
struct kvm_run;

enum vcpu_exit_kind {
	VCPU_EXIT_IO,
	VCPU_EXIT_MMIO,
	VCPU_EXIT_MMIO_QUEUE_NOTIFY, /* MMIO writes to a virtio QueueNotify: 0 with ioeventfd */
	VCPU_EXIT_IO_UNHANDLED,
	VCPU_EXIT_MMIO_UNHANDLED,
	VCPU_EXIT_HLT,
	VCPU_EXIT_SHUTDOWN,
	VCPU_EXIT_INTERNAL_ERROR,
	VCPU_EXIT_INTR,
	VCPU_EXIT_OTHER,
	VCPU_EXIT_KINDS,
};

struct vcpu {
	struct vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	_Atomic uint64_t exits[VCPU_EXIT_KINDS];
};

/* Boot state of the bootstrap processor, chosen by the image loader. */
struct vcpu_boot {
	enum { VCPU_BOOT_PVH32, VCPU_BOOT_LINUX64 } mode;
	uint64_t entry;
	uint64_t rbx; /* PVH: hvm_start_info address */
	uint64_t rsi; /* Linux 64-bit: boot_params address */
};

/* Give vCPU id its APIC ID (leaf 1 EBX[31:24], leaf 0xB EDX) and a topology of n_vcpus
 * single-thread cores in one package (leaves 1, 4, 0xB); sets the hypervisor bit. */
struct kvm_cpuid2;
void vcpu_cpuid_patch(struct kvm_cpuid2 *c, unsigned id, unsigned n_vcpus);

/* Create vCPU id (KVM_CREATE_VCPU, run area, CPUID with its APIC ID and topology). */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id);

/* Set the BSP's registers for the chosen boot protocol. APs stay in KVM's wait-for-SIPI state. */
int vcpu_set_boot_state(struct vcpu *v, const struct vcpu_boot *boot);

/* The thread body: run until the VM stops. start_fn runs first on the new thread (seccomp). */
void *vcpu_thread(void *arg);

/* Make a vCPU leave KVM_RUN promptly (immediate_exit + SIGUSR1) */
void vcpu_kick(struct vcpu *v);

/* Print {"id":N,"exits":{...}} */
void vcpu_print_stats(const struct vcpu *v, FILE *f);

extern const char *const vcpu_exit_names[VCPU_EXIT_KINDS];

#endif
