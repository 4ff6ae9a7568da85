// arm64 test workload for profiler.unwind: a leaf, a function with a frame record, and an entry
// point whose CFI ends the stack. Assembled with llvm-mc and linked with ld.lld (never run here:
// the test builds the stack it would have at the leaf and unwinds it with the real CFI).
        .text
        .globl  _start
        .p2align 2
        .type   leaf,%function
leaf:
        .cfi_startproc
        add     x0, x0, #1
        ret
        .cfi_endproc
        .size   leaf, .-leaf

        .type   framed,%function
framed:
        .cfi_startproc
        stp     x29, x30, [sp, #-32]!
        .cfi_def_cfa_offset 32
        .cfi_offset 29, -32
        .cfi_offset 30, -24
        mov     x29, sp
        .cfi_def_cfa_register 29
        bl      leaf
after_leaf:
        ldp     x29, x30, [sp], #32
        .cfi_def_cfa 31, 0
        .cfi_restore 30
        .cfi_restore 29
        ret
        .cfi_endproc
        .size   framed, .-framed

        .type   _start,%function
_start:
        .cfi_startproc
        .cfi_undefined 30
        mov     x29, #0
        bl      framed
after_framed:
        mov     x8, #93
        svc     #0
        .cfi_endproc
        .size   _start, .-_start
        .globl  after_leaf
        .globl  after_framed
