/* The portable core's mb_crc.c, compiled in place for the sketch (no copy of the code). */
#include "core_config.h"
#include "../../core/mb_crc.c"
