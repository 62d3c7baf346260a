/*
 * Deliberate guest failures for the launcher's exit-path tests (hello.action=...).
 * Both were checked on nested KVM (kvm_pvm, CPL0 emulated) and follow from the architecture
 * on hardware-virtualized KVM as well.
 */
	.code64
	.text

/* A fault with no way to deliver it: load a zero-limit IDT, then raise #UD. The #UD cannot
 * be delivered (#GP), nor can that (#DF), nor that: triple fault, KVM_EXIT_SHUTDOWN. */
	.globl fw_triple_fault
fw_triple_fault:
	lidt zero_idt(%rip)
	ud2
1:	cli
	hlt
	jmp 1b

/* Execute from the start of the MMIO hole (0xC0000000, below the virtio-mmio windows, no
 * memory slot): KVM cannot fetch an instruction from MMIO, its emulator fails, and KVM
 * reports KVM_EXIT_INTERNAL_ERROR (suberror 1, KVM_INTERNAL_ERROR_EMULATION). */
	.globl fw_emulation_error
fw_emulation_error:
	movl $0xC0000000, %eax
	jmp *%rax

	.section .rodata
	.balign 8
	.word 0, 0, 0
zero_idt:
	.word 0              /* limit 0: no vector is inside the IDT */
	.quad 0
	.section .note.GNU-stack, "", @progbits
