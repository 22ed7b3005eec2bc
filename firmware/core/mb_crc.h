/* Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial value 0xFFFF). */
#ifndef MB_CRC_H
#define MB_CRC_H

#include <stdint.h>

/* CRC of `len` bytes; sent on the wire low byte first. */
uint16_t mb_crc16(const uint8_t *data, uint16_t len);

#endif /* MB_CRC_H */
