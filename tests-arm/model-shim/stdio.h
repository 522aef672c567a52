/* tests-arm/model-shim/stdio.h: the model's diagnostics over semihosting. */
#ifndef __TESTS_ARM_SHIM_STDIO_H
#define __TESTS_ARM_SHIM_STDIO_H
#include "cortexm.h"
#define stderr ((void *)0)
#define fprintf(stream, ...) ((void)(stream), cortexm_printf(__VA_ARGS__))
#endif
