/* The portable core's app.c, compiled in place for the sketch (no copy of the code). */
#include "core_config.h"
#include "../../core/app.c"
