/* Unit tests for the vCPU CPUID topology: APIC IDs and leaves 1, 4 and 0xB for 1..32 vCPUs. */
// SOURCES: vmm/vcpu.c vmm/vm.c vmm/guest_mem.c vmm/errors.c vmm/evloop.c
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "vmm/vcpu.h"

/* A CPUID table like KVM_GET_SUPPORTED_CPUID's: leaves 1, 4, 0xB (subleaves 0-2), 0xD. */
static struct kvm_cpuid2 *make_table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));

	c->nent = 6;
	c->entries[0] =
	    (struct kvm_cpuid_entry2){.function = 1, .ebx = 0xAB0800, .ecx = 0x1, .edx = 0x1};
	c->entries[1] = (struct kvm_cpuid_entry2){.function = 4, .eax = 0xFC004121};
	for (unsigned i = 0; i < 3; i++)
		c->entries[2 + i] = (struct kvm_cpuid_entry2){
		    .function = 0xB, .index = i, .eax = 7, .ebx = 7, .ecx = 7, .edx = 7};
	c->entries[5] = (struct kvm_cpuid_entry2){.function = 0xD, .eax = 0x7};
	return c;
}

static void check_topology(unsigned id, unsigned n, unsigned shift)
{
	struct kvm_cpuid2 *c = make_table();

	vcpu_cpuid_patch(c, id, n);
	CHECK_EQ(c->entries[0].ebx >> 24, id);		      /* initial APIC ID */
	CHECK_EQ((c->entries[0].ebx >> 16) & 0xFF, n);	      /* logical processors */
	CHECK_EQ(c->entries[0].ebx & 0xFFFF, 0x0800);	      /* CLFLUSH size, brand kept */
	CHECK(c->entries[0].ecx & (1U << 31));		      /* hypervisor */
	CHECK_EQ(!!(c->entries[0].edx & (1U << 28)), n > 1);  /* HTT */
	CHECK_EQ(c->entries[1].eax >> 26, (1U << shift) - 1); /* cores per package - 1 */
	CHECK_EQ(c->entries[1].eax & 0x03FFFFFF, 0x4121);
	/* 0xB.0: SMT level, 1 thread per core; 0xB.1: core level, n logical processors. */
	CHECK_EQ(c->entries[2].eax, 0);
	CHECK_EQ(c->entries[2].ebx, 1);
	CHECK_EQ(c->entries[2].ecx, (1U << 8) | 0);
	CHECK_EQ(c->entries[3].eax, shift);
	CHECK_EQ(c->entries[3].ebx, n);
	CHECK_EQ(c->entries[3].ecx, (2U << 8) | 1);
	CHECK_EQ(c->entries[4].ebx, 0); /* 0xB.2: invalid level */
	CHECK_EQ(c->entries[4].ecx, 2);
	for (unsigned i = 2; i < 5; i++)
		CHECK_EQ(c->entries[i].edx, id); /* x2APIC ID on every subleaf */
	CHECK_EQ(c->entries[5].eax, 0x7);	 /* other leaves untouched */
	free(c);
}

static void test_topologies(void)
{
	check_topology(0, 1, 0);
	check_topology(1, 2, 1);
	check_topology(2, 3, 2);
	check_topology(7, 8, 3);
	check_topology(16, 17, 5);
	check_topology(31, 32, 5);
}

int main(void)
{
	RUN(test_topologies);
	return unit_summary("test_vcpu");
}
