/* The portable core's ctl_controller.c, compiled in place for the sketch (no copy of the code). */
#include "core_config.h"
#include "../../core/ctl_controller.c"
