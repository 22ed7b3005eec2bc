/* The portable core's mb_server.c, compiled in place for the sketch (no copy of the code). */
#include "core_config.h"
#include "../../core/mb_server.c"
