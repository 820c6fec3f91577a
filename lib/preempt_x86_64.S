/* SPDX-License-Identifier: MIT */
/*
 * preempt_x86_64.S - the injected call of asynchronous preemption (x86_64).
 *
 * The SIGURG handler (preempt.c) decided that the goroutine it interrupted
 * may be preempted. It did not switch anything: it moved the interrupted
 * rsp down past the 128-byte red zone, pushed the interrupted rip there as
 * a return address, and made the signal return land here. So we run on the
 * goroutine's own stack as if the interrupted instruction had called us,
 * except that no register - caller-saved or not - may change:
 *
 *   higher   interrupted frame ...              <- interrupted rsp
 *            red zone (128 bytes, untouched)
 *            interrupted rip                     <- rsp at entry
 *            interrupted rbp                     <- rbp (a normal frame:
 *            rflags, rax ... r15 (14 registers)     unwinders and ringo's
 *            (pad to 64 bytes)                      dumps walk through it)
 *   lower    XSAVE area (or FXSAVE), 64-aligned  <- rsp at the call
 *
 * Vector state: XSAVE with the XCR0 mask saves every enabled component
 * (x87, SSE, AVX, AVX-512 ...) in the standard format; the area's size
 * comes from CPUID leaf 0xD, and its header must be zero before XSAVE
 * (XRSTOR faults on a non-zero XCOMP_BV or reserved bytes). Without XSAVE,
 * FXSAVE keeps x87 and SSE. ringo__preempt_park switches to another
 * goroutine; when this one is resumed - maybe on another thread - it
 * returns here, everything is restored, and `ret $128` pops the
 * interrupted rip and the red-zone gap in one go.
 */
	.text

/* struct ringo__xsave_info (preempt.c): size, use_xsave, mask_lo, mask_hi */
#define XS_SIZE    0
#define XS_USE     4
#define XS_MASK_LO 8
#define XS_MASK_HI 12

	.globl	ringo__preempt_trampoline
	.hidden	ringo__preempt_trampoline
	.type	ringo__preempt_trampoline, @function
	.p2align 4
ringo__preempt_trampoline:
	.cfi_startproc simple
	/* The caller's frame starts above the red zone. */
	.cfi_def_cfa %rsp, 136
	.cfi_offset %rip, -136
	pushq	%rbp
	.cfi_offset %rbp, -144
	movq	%rsp, %rbp
	.cfi_def_cfa %rbp, 144
	pushfq
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	.cfi_offset %rbx, -168
	.cfi_offset %r12, -240
	.cfi_offset %r13, -248
	.cfi_offset %r14, -256
	.cfi_offset %r15, -264

	/* The vector save area, 64-byte aligned. */
	movl	ringo__xsave_info+XS_SIZE(%rip), %eax
	subq	%rax, %rsp
	andq	$-64, %rsp
	cmpl	$0, ringo__xsave_info+XS_USE(%rip)
	je	1f
	xorl	%eax, %eax
	movq	%rax, 512(%rsp)		/* XSAVE header: XSTATE_BV */
	movq	%rax, 520(%rsp)		/* XCOMP_BV */
	movq	%rax, 528(%rsp)		/* reserved ... */
	movq	%rax, 536(%rsp)
	movq	%rax, 544(%rsp)
	movq	%rax, 552(%rsp)
	movq	%rax, 560(%rsp)
	movq	%rax, 568(%rsp)
	movl	ringo__xsave_info+XS_MASK_LO(%rip), %eax
	movl	ringo__xsave_info+XS_MASK_HI(%rip), %edx
	xsave64	(%rsp)
	jmp	2f
1:	fxsave64 (%rsp)
2:
	cld				/* the ABI wants DF clear at a call */
	call	ringo__preempt_park

	cmpl	$0, ringo__xsave_info+XS_USE(%rip)
	je	3f
	movl	ringo__xsave_info+XS_MASK_LO(%rip), %eax
	movl	ringo__xsave_info+XS_MASK_HI(%rip), %edx
	xrstor64 (%rsp)
	jmp	4f
3:	fxrstor64 (%rsp)
4:
	leaq	-120(%rbp), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	popfq
	popq	%rbp
	.cfi_def_cfa %rsp, 136
	ret	$128
	.cfi_endproc
	.size	ringo__preempt_trampoline, .-ringo__preempt_trampoline

	.section .note.GNU-stack,"",@progbits
