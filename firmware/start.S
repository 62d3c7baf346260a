/*
 * PVH entry stub: 32-bit protected mode (paging off, flat segments, ebx -> hvm_start_info)
 * to 64-bit long mode, then fw_start(start_info). Every instruction here is emulated on
 * CPL0-emulating hosts, so the page tables are static data (no table-building loops):
 * PD0 maps 0-1 GiB with 2 MiB pages (write-back), PD3 maps 3-4 GiB (the MMIO hole:
 * virtio-mmio, IOAPIC, LAPIC) with PCD|PWT. Only three entries of the zero-filled (.bss)
 * PML4 and PDPT are written at run time. No IDT is ever loaded; interrupts stay off.
 */

#define PTE_P   0x001
#define PTE_RW  0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS  0x080

#define CR0_PE  0x00000001
#define CR0_PG  0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xC0000080
#define EFER_LME 0x00000100

#define SEL_CODE64 0x08
#define SEL_DATA   0x10

/* XEN_ELFNOTE_PHYS32_ENTRY (18): the 32-bit physical entry address. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4              /* namesz: "Xen\0" */
	.long 4              /* descsz */
	.long 18             /* type: XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start32

	.section .text.entry, "ax", @progbits
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	movl %ebx, %esi                     /* keep start_info across the mode switch */
	lgdt gdt_desc
	movl $(pdpt + PTE_P + PTE_RW), pml4
	movl $(pd0 + PTE_P + PTE_RW), pdpt
	movl $(pd3 + PTE_P + PTE_RW), pdpt + 3 * 8
	movl $pml4, %eax
	movl %eax, %cr3
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	xorl %edx, %edx
	movl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $start64

	.code64
start64:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	leaq stack_top(%rip), %rsp
	movl %esi, %edi                     /* zero-extends: rdi = start_info */
	call fw_start                       /* does not return */
1:	cli
	hlt
	jmp 1b

	.section .rodata.gdt, "a"
	.balign 16
gdt:
	.quad 0                             /* null */
	.quad 0x00AF9A000000FFFF            /* 0x08: 64-bit code, DPL0 */
	.quad 0x00CF92000000FFFF            /* 0x10: flat data */
gdt_end:
	.balign 4
	.word 0                             /* pad so the base below is 4-aligned */
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .pagetables, "aw", @progbits
	.balign 4096
pd0:                                    /* 0 - 1 GiB, write-back */
	.set addr, 0
	.rept 512
	.quad addr + (PTE_P | PTE_RW | PTE_PS)
	.set addr, addr + 0x200000
	.endr
pd3:                                    /* 3 - 4 GiB, uncached MMIO */
	.set addr, 0xC0000000
	.rept 512
	.quad addr + (PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT)
	.set addr, addr + 0x200000
	.endr

	.section .bss.pagetables, "aw", @nobits
	.balign 4096
pml4:	.skip 4096
pdpt:	.skip 4096

	.section .bss.stack, "aw", @nobits
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
