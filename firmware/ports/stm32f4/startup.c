/* STM32F4 start-up: the vector table and the reset handler (FPU, .data, .bss, main). */
#include "internal.h"

#include "port.h"

/* Exceptions 1..15 of the Cortex-M4, then the peripheral interrupts (97 on the F446, 82 on
   the F405; the table is sized for the larger). */
#define STM32_EXCEPTIONS 15u
#define STM32_IRQS 97u

struct stm32_vectors {
    void *stack;                                              /* initial main stack pointer */
    void (*handler[STM32_EXCEPTIONS + STM32_IRQS])(void);     /* exception n at [n - 1] */
};

/* From the linker script */
extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;

int main(void);

/* Interrupts that are never enabled stay zero: should one fire, the vector fetch faults and
   the HardFault handler below latches the safe state. */
__attribute__((section(".isr_vector"), used))
static const struct stm32_vectors stm32_vector_table = {
    &_estack,
    {
        stm32_reset,                /* 1 reset */
        stm32_unexpected_irq,       /* 2 NMI */
        stm32_unexpected_irq,       /* 3 HardFault */
        stm32_unexpected_irq,       /* 4 MemManage */
        stm32_unexpected_irq,       /* 5 BusFault */
        stm32_unexpected_irq,       /* 6 UsageFault */
        0, 0, 0, 0,                 /* 7..10 reserved */
        stm32_unexpected_irq,       /* 11 SVCall */
        stm32_unexpected_irq,       /* 12 DebugMonitor */
        0,                          /* 13 reserved */
        stm32_unexpected_irq,       /* 14 PendSV */
        stm32_systick_irq,          /* 15 SysTick */
        [STM32_EXCEPTIONS + BOARD_USART_IRQ] = stm32_usart_irq,
    },
};

void stm32_reset(void)
{
    const uint32_t *from = &_sidata;
    uint32_t *to;
    /* Full access to the FPU (CP10, CP11) before any floating-point instruction */
    SCB_CPACR |= SCB_CPACR_CP10_CP11_FULL;
    __asm__ volatile ("dsb\n\tisb" : : : "memory");
    SCB_VTOR = (uint32_t)(uintptr_t)&stm32_vector_table;
    for (to = &_sdata; to < &_edata; to++)
        *to = *from++;
    for (to = &_sbss; to < &_ebss; to++)
        *to = 0u;
    main();
    port_fault("main returned");
}

// A fault, or an interrupt that has no handler
void stm32_unexpected_irq(void)
{
    port_fault("unexpected exception");
}
