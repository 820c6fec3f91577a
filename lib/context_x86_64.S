/* SPDX-License-Identifier: MIT */
/*
 * context_x86_64.S - the first frame of a new goroutine on x86_64, and
 * the stub through which ringo_yield returns to its caller.
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

/*
 * ringo_yield returns by an indirect jump.
 *
 * After a switch, the return stack buffer still predicts the returns of
 * the goroutine that switched out. Inside the runtime both goroutines
 * usually took the same path (two goroutines blocked in the same
 * function), so those returns are predicted right; the return into the
 * user's code is not, as each goroutine called from its own loop. A
 * mispredicted return costs about as much as the rest of a yield. An
 * indirect jump is predicted from the branch history instead, which
 * tells the two goroutines apart. The call that entered the stub leaves
 * one entry on the return stack buffer, which is circular: nothing
 * overflows, and the user's next returns are mispredicted no more than
 * after any switch.
 *
 * switching NAME defines NAME, which calls the hidden C body
 * ringo__body_NAME (RINGO_SWITCHING in runtime.h) with the arguments and
 * return value untouched. rcx is neither an argument nor a return
 * register once the body has returned.
 *
 * Only ringo_yield has a stub. On ringo_chan_send, ringo_chan_recv and
 * ringo_select it measured slower (chan_pingpong 64 -> 77 ns, select
 * 129 -> 166). The stub costs even where nothing switches: on
 * ringo_chan_recv alone, chan_buffered went from 8 to 14.5 ns a receive,
 * so on this AMD core a return left to an indirect jump costs more than
 * the return it saves; a function that switches on nearly every call,
 * as ringo_yield does, is the only one that gains.
 */
	.macro	switching name
	.globl	\name
	.hidden	ringo__body_\name
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	subq	$8, %rsp		/* the body's call wants rsp 16-aligned */
	.cfi_adjust_cfa_offset 8
	callq	ringo__body_\name
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register rip, rcx
	jmpq	*%rcx
	.cfi_endproc
	.size	\name, .-\name
	.endm

	switching ringo_yield

	.section .note.GNU-stack,"",@progbits
