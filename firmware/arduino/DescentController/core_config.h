/* What firmware/Makefile passes with -D for the AVR builds; the Arduino build has no such flags. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#define FW_DEVICE_KIND ICD_DEVICE_KIND_AVR

#endif /* CORE_CONFIG_H */
