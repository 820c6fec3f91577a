/* SPDX-License-Identifier: MIT */
/*
 * context_x86_64.S - the first frame of a new goroutine on x86_64.
 *
 * The switch itself is inline assembly in context.h, so that the compiler
 * saves callee-saved registers once, in the switching function's own
 * prologue, instead of a second time in a separate switch routine.
 */
	.text

/*
 * First instruction of a new goroutine: ringo__ctx_make left the argument
 * of ringo__g_entry in rbp and a 16-byte aligned rsp, as the ABI wants
 * before a call. ringo__g_entry never returns.
 */
	.globl	ringo__ctx_trampoline
	.hidden	ringo__ctx_trampoline
	.hidden	ringo__g_entry
	.type	ringo__ctx_trampoline, @function
	.p2align 4
ringo__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%rbp, %rdi
	xorl	%ebp, %ebp
	callq	ringo__g_entry
	ud2
	.cfi_endproc
	.size	ringo__ctx_trampoline, .-ringo__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
