/* SPDX-License-Identifier: MIT */
/*
 * context_aarch64.S - the goroutine context switch for aarch64 (AAPCS64).
 *
 * Saved frame, low to high: x19..x28, x29 (fp), x30 (lr), d8..d15, fpcr, pad
 * (176 bytes, 16-byte aligned).
 */
	.text

/* void ringo__ctx_switch_sp(void **save_sp, void *new_sp) */
	.globl	ringo__ctx_switch_sp
	.hidden	ringo__ctx_switch_sp
	.type	ringo__ctx_switch_sp, %function
	.p2align 4
ringo__ctx_switch_sp:
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	add	sp, sp, #176
	ret
	.size	ringo__ctx_switch_sp, .-ringo__ctx_switch_sp

/* Entry of a new goroutine: function in x19, argument in x20. */
	.globl	ringo__ctx_trampoline
	.hidden	ringo__ctx_trampoline
	.type	ringo__ctx_trampoline, %function
	.p2align 4
ringo__ctx_trampoline:
	mov	x29, #0
	mov	x30, #0
	mov	x0, x20
	blr	x19
	brk	#1
	.size	ringo__ctx_trampoline, .-ringo__ctx_trampoline

	.section .note.GNU-stack,"",%progbits
