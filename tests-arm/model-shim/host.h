/* tests-arm/model-shim/host.h: the host port's bus and interrupt lines as
 * the PL320 model uses them, on the bare-metal port (model_glue.c): the
 * bus is cortexm_bus_map(), a line is an NVIC interrupt held pending while
 * its level is high.
 */
#ifndef __TESTS_ARM_SHIM_HOST_H
#define __TESTS_ARM_SHIM_HOST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cortexm.h"
#define HOST_NIRQ CORTEXM_NIRQ
typedef cortexm_reg_read_t host_reg_read_t;
typedef cortexm_reg_write_t host_reg_write_t;
int host_bus_map(uintptr_t base, size_t size, host_reg_read_t rd, host_reg_write_t wr, void *dev);
void host_bus_unmap(uintptr_t base);
void host_irq_set_level(int irq, bool asserted);
void host_irq_pulse(int irq);
#endif
