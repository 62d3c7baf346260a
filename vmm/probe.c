/* --probe: KVM capability report and a tiny guest that takes an exception (#UD). */
#include "probe.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "boot_linux.h"
#include "layout.h"
#include "status.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

#define PROBE_IDT	    0x1000ULL
#define PROBE_HANDLER	    0x2000ULL
#define PROBE_CODE	    0x3000ULL
#define PROBE_IRQ_CODE	    0x4000ULL
#define PROBE_IRQ_HANDLER   0x5000ULL
#define PROBE_MAGIC	    0x42
#define PROBE_IRQ_MAGIC	    0x43
#define PROBE_VECTOR	    0x30
#define PROBE_LOOP_CODE	    0x6000ULL
#define PROBE_LOOP_ITERS    20000U /* 40k instructions: ~30 ms emulated, ~20 us native */
#define PROBE_NATIVE_MIPS   200.0
#define PROBE_SNIPPET_CODE  0x7800ULL
#define PROBE_SNIPPET_MAGIC 0x45
#define PROBE_DATA	    0x7000ULL /* the snippets' operand (imm32 in their mov edi) */

static const struct {
	int cap;
	const char *name;
} probe_caps[] = {
    {KVM_CAP_IRQCHIP, "irqchip"},
    {KVM_CAP_IRQFD, "irqfd"},
    {KVM_CAP_IOEVENTFD, "ioeventfd"},
    {KVM_CAP_USER_MEMORY, "user-memory"},
    {KVM_CAP_PIT2, "pit2"},
    {KVM_CAP_IMMEDIATE_EXIT, "immediate-exit"},
    {KVM_CAP_EXT_CPUID, "ext-cpuid"},
    {KVM_CAP_SET_TSS_ADDR, "set-tss-addr"},
    {KVM_CAP_NR_VCPUS, "nr-vcpus"},
    {KVM_CAP_MAX_VCPUS, "max-vcpus"},
    {KVM_CAP_IRQ_ROUTING, "irq-routing"},
    {KVM_CAP_X86_ROBUST_SINGLESTEP, "robust-singlestep"},
};

/* 64-bit guest (paging on, as Linux runs): IDT gates 0..31 -> handler, which writes
 * PROBE_MAGIC to the exit port; the code executes ud2. */
static int probe_guest_image(struct vm *vm)
{
	static const uint8_t handler[] = {0xB0, PROBE_MAGIC, 0xE6, EXIT_PORT,
					  0xF4}; /* mov al; out; hlt */
	static const uint8_t code[] = {0x0F, 0x0B,	0xB0, 0x13,
				       0xE6, EXIT_PORT, 0xF4}; /* ud2; ... */
	/* Interrupt test: enable the LAPIC, send ourselves a fixed IPI, sti. */
	static const uint8_t irq_code[] = {
	    0x48, 0xBF, 0x00, 0x00,	 0xE0, 0xFE, 0,
	    0,	  0,	0, /* mov rdi, LAPIC */
	    0xC7, 0x87, 0xF0, 0,	 0,    0,    0xFF,
	    0x01, 0,	0, /* SVR = 0x1FF */
	    0xC7, 0x87, 0x00, 0x03,	 0,    0,    PROBE_VECTOR,
	    0,	  0x04, 0,			     /* ICR: self, fixed */
	    0xFB, 0xB9, 0xA0, 0x86,	 0x01, 0x00, /* sti; mov ecx, 1e5 */
	    0xFF, 0xC9, 0x75, 0xFC,	 0xFA,	     /* 1: dec; jnz 1b; cli */
	    0xB0, 0x13, 0xE6, EXIT_PORT, 0xF4};	     /* no interrupt came */
	static const uint8_t irq_handler[] = {0xB0, PROBE_IRQ_MAGIC, 0xE6, EXIT_PORT, 0xF4};
	int rc = boot_identity_map(vm);

	for (unsigned i = 0; i <= PROBE_VECTOR && rc == 0; i++) {
		uint64_t h = i == PROBE_VECTOR ? PROBE_IRQ_HANDLER : PROBE_HANDLER;
		uint64_t gate[2] = {(h & 0xFFFF) | (0x10ULL << 16) | (0x8EULL << 40) |
					(((h >> 16) & 0xFFFF) << 48),
				    h >> 32};

		rc = gmem_write(&vm->mem, PROBE_IDT + i * 16, gate, sizeof(gate));
	}
	if (rc == 0)
		rc = gmem_write(&vm->mem, PROBE_HANDLER, handler, sizeof(handler));
	if (rc == 0)
		rc = gmem_write(&vm->mem, PROBE_CODE, code, sizeof(code));
	if (rc == 0)
		rc = gmem_write(&vm->mem, PROBE_IRQ_CODE, irq_code, sizeof(irq_code));
	if (rc == 0)
		rc = gmem_write(&vm->mem, PROBE_IRQ_HANDLER, irq_handler, sizeof(irq_handler));
	return rc;
}

/* Run the vCPU once; describe what it did: "yes" when it wrote magic to the exit port. */
static void probe_report(struct vcpu *v, const char *what, uint8_t magic)
{
	struct kvm_run *run = v->run;

	if (ioctl(v->fd, KVM_RUN, 0) < 0)
		printf("%s: no (KVM_RUN: %s)\n", what, strerror(errno));
	else if (run->exit_reason == KVM_EXIT_IO && run->io.port == EXIT_PORT &&
		 *((uint8_t *)run + run->io.data_offset) == magic)
		printf("%s: yes\n", what);
	else if (run->exit_reason == KVM_EXIT_IO && run->io.port == EXIT_PORT)
		printf("%s: no (not delivered)\n", what);
	else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		printf("%s: no (KVM_EXIT_INTERNAL_ERROR suberror %u)\n", what,
		       run->internal.suberror);
	else if (run->exit_reason == KVM_EXIT_SHUTDOWN)
		printf("%s: no (KVM_EXIT_SHUTDOWN)\n", what);
	else
		printf("%s: no (exit reason %u)\n", what, run->exit_reason);
}

/* Instructions Linux runs early that KVM's instruction emulator may lack; each snippet ends
 * by writing its magic to the exit port (a fault writes PROBE_MAGIC from the handler). */
static const uint8_t snippet_cx16[] = {0xBF, 0x00,
				       0x70, 0x00,
				       0x00, /* mov edi, PROBE_DATA */
				       0x31, 0xC0,
				       0x31, 0xD2,
				       0x31, 0xDB,
				       0x31, 0xC9, /* xor eax, edx, ebx, ecx */
				       0xF0, 0x48,
				       0x0F, 0xC7,
				       0x0F, /* lock cmpxchg16b [rdi] */
				       0xB0, PROBE_SNIPPET_MAGIC,
				       0xE6, EXIT_PORT,
				       0xF4};
static const uint8_t snippet_xrstor[] = {0x0F, 0x20,
					 0xE0, 0x0D,
					 0x00, 0x00,
					 0x04, 0x00,
					 0x0F, 0x22,
					 0xE0, /* cr4 |= OSXSAVE */
					 0x31, 0xD2,
					 0xB8, 0x01,
					 0x00, 0x00,
					 0x00, /* edx:eax = x87 */
					 0xBF, 0x00,
					 0x70, 0x00,
					 0x00, /* mov edi, PROBE_DATA */
					 0x0F, 0xAE,
					 0x27, 0x0F,
					 0xAE, 0x2F, /* xsave; xrstor [rdi] */
					 0xB0, PROBE_SNIPPET_MAGIC,
					 0xE6, EXIT_PORT,
					 0xF4};
static const uint8_t snippet_int3[] = {0xCC, 0xB0, 0x13, 0xE6, EXIT_PORT, 0xF4};

static const struct probe_snippet {
	const char *name;
	const uint8_t *code;
	size_t len;
	uint8_t magic;
} probe_snippets[] = {
    {"lock cmpxchg16b", snippet_cx16, sizeof(snippet_cx16), PROBE_SNIPPET_MAGIC},
    {"xsave/xrstor", snippet_xrstor, sizeof(snippet_xrstor), PROBE_SNIPPET_MAGIC},
    {"int3", snippet_int3, sizeof(snippet_int3), PROBE_MAGIC},
};

/* Run one snippet at CPL0 with the probe's IDT; true when it wrote its magic. */
static bool probe_snippet_runs(struct vcpu *v, struct vcpu_boot *boot,
			       const struct probe_snippet *sn)
{
	struct kvm_run *run = v->run;
	struct kvm_sregs sr;

	boot->entry = PROBE_SNIPPET_CODE;
	if (gmem_write(&v->vm->mem, PROBE_SNIPPET_CODE, sn->code, sn->len) < 0 ||
	    vcpu_set_boot_state(v, boot) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return false;
	sr.idt.base = PROBE_IDT;
	sr.idt.limit = (PROBE_VECTOR + 1) * 16 - 1;
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0 || ioctl(v->fd, KVM_RUN, 0) < 0)
		return false;
	return run->exit_reason == KVM_EXIT_IO && run->io.port == EXIT_PORT &&
	       *((uint8_t *)run + run->io.data_offset) == sn->magic;
}

/* The verdict: can Linux boot here? KVM's emulator (guest code at CPL0 emulated) stops Linux
 * at the first instruction it lacks; a complete CPU (native, or nested under TCG) runs it. */
static void probe_linux(struct vcpu *v, struct vcpu_boot *boot, bool native)
{
	for (size_t i = 0; i < sizeof(probe_snippets) / sizeof(probe_snippets[0]); i++) {
		if (!probe_snippet_runs(v, boot, &probe_snippets[i])) {
			printf(
			    "linux: cannot boot (guest code at CPL0 is emulated and the emulator "
			    "lacks %s, which Linux runs early)\n",
			    probe_snippets[i].name);
			return;
		}
	}
	if (native)
		printf("linux: can boot (guest code runs natively)\n");
	else
		printf("linux: can boot, slowly (guest code at CPL0 is emulated but complete, as "
		       "under nested virtualization on QEMU TCG)\n");
}

/* Time a dec/jnz loop at CPL0: tells native execution from KVM's instruction emulator. */
static bool probe_speed(struct vcpu *v, struct vcpu_boot *boot)
{
	static const uint8_t loop[] = {0xB9,
				       PROBE_LOOP_ITERS & 0xFF,
				       (PROBE_LOOP_ITERS >> 8) & 0xFF,
				       0,
				       0,
				       0xFF,
				       0xC9,
				       0x75,
				       0xFC, /* mov ecx, N; 1: dec; jnz */
				       0xB0,
				       0x44,
				       0xE6,
				       EXIT_PORT,
				       0xF4};
	uint64_t t0;
	double us, mips;

	boot->entry = PROBE_LOOP_CODE;
	if (gmem_write(&v->vm->mem, PROBE_LOOP_CODE, loop, sizeof(loop)) < 0 ||
	    vcpu_set_boot_state(v, boot) < 0) {
		printf("guest-cpu: unknown (setup failed)\n");
		return false;
	}
	t0 = monotonic_ns();
	if (ioctl(v->fd, KVM_RUN, 0) < 0 || v->run->exit_reason != KVM_EXIT_IO) {
		printf("guest-cpu: unknown (the timing loop did not finish)\n");
		return false;
	}
	us = (double)(monotonic_ns() - t0) / 1e3;
	mips = 2.0 * PROBE_LOOP_ITERS / (us > 0 ? us : 1);
	printf("guest-cpu: %s (%.1f M instructions/s at CPL0)\n",
	       mips >= PROBE_NATIVE_MIPS ? "native" : "emulated", mips);
	return mips >= PROBE_NATIVE_MIPS;
}

static void probe_exceptions(struct vm *vm)
{
	struct vcpu v;
	struct vcpu_boot boot = {.mode = VCPU_BOOT_LINUX64, .entry = PROBE_CODE};
	struct kvm_sregs sr;
	int rc;

	vm->n_vcpus = 1;
	rc = vcpu_create(vm, &v, 0);
	if (rc == 0)
		rc = probe_guest_image(vm);
	if (rc == 0)
		rc = vcpu_set_boot_state(&v, &boot);
	if (rc == 0 && ioctl(v.fd, KVM_GET_SREGS, &sr) == 0) {
		sr.idt.base = PROBE_IDT;
		sr.idt.limit = (PROBE_VECTOR + 1) * 16 - 1;
		rc = ioctl(v.fd, KVM_SET_SREGS, &sr) < 0 ? -errno : 0;
	}
	if (rc < 0) {
		printf("guest-exceptions: no (setup failed: %s)\n", strerror(-rc));
		return;
	}
	probe_report(&v, "guest-exceptions", PROBE_MAGIC);
	boot.entry = PROBE_IRQ_CODE;
	rc = vcpu_set_boot_state(&v, &boot);
	if (rc == 0 && ioctl(v.fd, KVM_SET_SREGS, &sr) < 0)
		rc = -errno;
	if (rc < 0)
		printf("guest-interrupts: no (setup failed: %s)\n", strerror(-rc));
	else
		probe_report(&v, "guest-interrupts", PROBE_IRQ_MAGIC);
	probe_linux(&v, &boot, probe_speed(&v, &boot));
}

int probe_run(void)
{
	static struct vm vm;
	struct vm_config cfg = {.machine = {.vcpu_count = 1, .mem_size_mib = 2}};
	struct errbuf err = {0};

	vm_init(&vm, &cfg);
	if (vm_open_kvm(&vm, &err) < 0) {
		printf("kvm: unusable: %s\n", err.msg);
		return STATUS_KVM;
	}
	printf("kvm: /dev/kvm API %d\n", ioctl(vm.kvm_fd, KVM_GET_API_VERSION, 0));
	for (size_t i = 0; i < sizeof(probe_caps) / sizeof(probe_caps[0]); i++)
		printf("cap-%s: %d\n", probe_caps[i].name,
		       ioctl(vm.kvm_fd, KVM_CHECK_EXTENSION, probe_caps[i].cap));
	if (vm_create(&vm, &cfg, &err) < 0) {
		printf("vm: cannot create: %s\n", err.msg);
		return STATUS_KVM;
	}
	probe_exceptions(&vm);
	fflush(stdout);
	return 0;
}
