/* What firmware/Makefile passes with -D for the AVR builds; the Arduino build has no such flags. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#define FW_DEVICE_KIND ICD_DEVICE_KIND_AVR
#define MB_ADU_MAX 128u          /* as ports/avr/build.mk: 128-byte Modbus buffers */

#endif /* CORE_CONFIG_H */
