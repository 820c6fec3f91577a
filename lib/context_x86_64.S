/* SPDX-License-Identifier: MIT */
/*
 * context_x86_64.S - the goroutine context switch for x86_64 (System V ABI).
 *
 * A switched-out context is its stack pointer; the stack holds, from low to
 * high addresses:
 *
 *   sp+0   MXCSR (4 bytes) | x87 control word (2 bytes) | pad
 *   sp+8   r15, r14, r13, r12, rbx, rbp
 *   sp+56  return address
 *
 * Only callee-saved state is kept: the switch is an ordinary function call,
 * so the caller has already saved everything else. swapcontext() would also
 * save the signal mask with a system call; we never change it per goroutine.
 */
	.text

/* void ringo__ctx_switch(void **save_sp, void *new_sp) */
	.globl	ringo__ctx_switch
	.hidden	ringo__ctx_switch
	.type	ringo__ctx_switch, @function
	.p2align 4
ringo__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	/* Loading MXCSR and the x87 control word costs tens of cycles; they
	 * almost never differ between goroutines, so load only if they do.
	 * (Loads of the same width as the stores, so they forward.) */
	movl	(%rsp), %eax
	movzwl	4(%rsp), %edx
	movq	%rsi, %rsp
	cmpl	(%rsp), %eax
	jne	2f
	cmpw	4(%rsp), %dx
	jne	2f
1:	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
2:	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	ringo__ctx_switch, .-ringo__ctx_switch

/*
 * First instruction of a new goroutine: ringo__ctx_make left the entry
 * function in r12 and its argument in r13. rsp is 16-byte aligned here, as
 * the ABI wants before a call. The entry function never returns.
 */
	.globl	ringo__ctx_trampoline
	.hidden	ringo__ctx_trampoline
	.type	ringo__ctx_trampoline, @function
	.p2align 4
ringo__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%r13, %rdi
	callq	*%r12
	ud2
	.cfi_endproc
	.size	ringo__ctx_trampoline, .-ringo__ctx_trampoline

	.section .note.GNU-stack,"",@progbits
