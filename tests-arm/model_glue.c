/****************************************************************************
 * tests-arm/model_glue.c
 *
 * The host services ffi/host/pl320_model.c needs (model-shim/), on the
 * bare-metal port: its register window through cortexm_bus_map(), its
 * interrupt lines as level-sensitive NVIC interrupts
 * (cortexm_irq_set_level()), its one allocation from a static pool.
 ****************************************************************************/

#include <stdint.h>
#include <string.h>

#include "model-shim/host.h"
#include "model-shim/stdlib.h"

static uint8_t g_pool[16384] __attribute__((aligned(8)));
static size_t g_pool_used;

void *malloc(size_t n)
{
  void *p;

  n = (n + 7u) & ~(size_t)7u;
  if (n > sizeof(g_pool) - g_pool_used)
    {
      return NULL;
    }

  p = &g_pool[g_pool_used];
  g_pool_used += n;
  return p;
}

void *calloc(size_t n, size_t size)
{
  void *p;

  if (size != 0 && n > SIZE_MAX / size)
    {
      return NULL;
    }

  p = malloc(n * size);
  if (p != NULL)
    {
      memset(p, 0, n * size);
    }

  return p;
}

void free(void *p)
{
  (void)p;
}

void abort(void)
{
  cortexm_printf("model: abort\n");
  cortexm_exit(4);
}

int host_bus_map(uintptr_t base, size_t size, host_reg_read_t rd,
                 host_reg_write_t wr, void *dev)
{
  cortexm_bus_map(base, size, rd, wr, dev);
  return 0;
}

void host_bus_unmap(uintptr_t base)
{
  (void)base;
  cortexm_bus_map(0, 0, NULL, NULL, NULL);
}

void host_irq_set_level(int irq, bool asserted)
{
  cortexm_irq_set_level(irq, asserted);
}

void host_irq_pulse(int irq)
{
  cortexm_irq_pend(irq);
}
