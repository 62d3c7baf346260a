/* hello: the built-in default guest. Prints a greeting, the command line and the memory map,
 * then performs hello.action (default: exit 0). Output format: firmware/README.md. */
#include "fw.h"

static const struct hvm_memmap_table_entry *memmap(uint32_t *n)
{
	*n = 0;
	if (fw_start_info->version < 1 || fw_start_info->memmap_paddr == 0)
		return NULL;
	*n = fw_start_info->memmap_entries;
	return (const struct hvm_memmap_table_entry *)(uintptr_t)fw_start_info->memmap_paddr;
}

/* faults.S: a fault that can be delivered nowhere (KVM_EXIT_SHUTDOWN), and an instruction
 * fetch from MMIO (KVM_EXIT_INTERNAL_ERROR). */
_Noreturn void fw_triple_fault(void);
_Noreturn void fw_emulation_error(void);

int main(void)
{
	fw_puts("Hello from microvm hello\n");
	fw_printf("cmdline: %s\n", fw_cmdline());
	uint32_t n;
	const struct hvm_memmap_table_entry *mm = memmap(&n);
	fw_printf("memmap: %u entries\n", n);
	for (uint32_t i = 0; i < n; i++)
		fw_printf("memmap[%u]: base=0x%016lx size=0x%016lx type=%u\n", i, mm[i].addr,
			  mm[i].size, mm[i].type);

	struct fw_token act;
	if (!cmdline_get("hello.action", &act))
		return 0;
	if (act.len > 5 && memcmp(act.s, "exit:", 5) == 0) {
		struct fw_token num = {act.s + 5, act.len - 5};
		uint64_t v;
		if (token_u64(&num, &v) && v <= 255)
			fw_exit((unsigned)v);
	} else if (token_eq(&act, "reset")) {
		fw_reset();
	} else if (token_eq(&act, "triple-fault")) {
		fw_triple_fault();
	} else if (token_eq(&act, "emulation-error")) {
		fw_emulation_error();
	} else if (token_eq(&act, "spin")) {
		for (;;)
			barrier();
	} else if (token_eq(&act, "halt")) {
		fw_halt();
	}
	fw_printf("hello: bad hello.action \"%.*s\"\n", (int)act.len, act.s);
	return 1;
}
