/* Descent controller for the Arduino toolchain (Uno, Mega): the portable core of
   firmware/core on HardwareSerial and micros(). Same Modbus RTU server and register bank as
   the avr-gcc build in firmware/ports/avr; built by `make -C firmware arduino`. */
extern "C" {
#include "core_config.h"
#include "../../core/app.h"
#include "../../core/mb_server.h"
#include "../../core/port.h"
}

#ifndef SKYCRANE_BAUD
#define SKYCRANE_BAUD 115200UL
#endif
#define SKYCRANE_UNIT 1u
#define SKYCRANE_IDLE_US (35000000UL / SKYCRANE_BAUD + 1UL)  /* 3.5 characters of 10 bits */
#define SKYCRANE_FEED_MAX 16u

static struct app skycrane_app;
static struct mb_server skycrane_server;
static uint32_t skycrane_last_rx_us;
static bool skycrane_pending;         /* bytes fed since the last silence */

extern "C" uint32_t port_time_us(void)
{
    return micros();                  /* Timer0: 4 us resolution at 16 MHz */
}

extern "C" void port_uart_write(const uint8_t *data, uint16_t len)
{
    Serial.write(data, len);          /* blocks while the 64-byte transmit ring is full */
}

extern "C" void port_fault(const char *message)
{
    /* A firmware bug: report as text, then hold (no further commands) until reset. */
    Serial.print(F("\r\nskycrane-arduino: fault: "));
    Serial.println(message);
    Serial.flush();
    noInterrupts();
    for (;;) {
    }
}

void setup()
{
    Serial.begin(SKYCRANE_BAUD);
    app_init(&skycrane_app);
    mb_server_init(&skycrane_server, SKYCRANE_UNIT, app_read, app_write, &skycrane_app);
}

void loop()
{
    uint8_t buf[SKYCRANE_FEED_MAX];
    uint8_t n = 0;
    while (n < sizeof(buf) && Serial.available() > 0)
        buf[n++] = (uint8_t)Serial.read();
    if (n > 0) {
        skycrane_last_rx_us = micros();
        skycrane_pending = true;
        mb_server_feed(&skycrane_server, buf, n);
    } else if (skycrane_pending && micros() - skycrane_last_rx_us >= SKYCRANE_IDLE_US) {
        mb_server_idle(&skycrane_server);
        skycrane_pending = false;
    }
    app_poll(&skycrane_app);          /* real-time: a due step or the watchdog (loop() never sleeps) */
}
