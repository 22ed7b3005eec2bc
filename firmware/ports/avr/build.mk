# AVR port (Arduino Uno ATmega328P, Mega ATmega2560), included by firmware/Makefile:
#   make avr BOARD=uno|mega [BAUD=115200|250000|500000|1000000]
#                      build/avr-<board>/skycrane.elf and .hex, then avr-size
#   make flash BOARD=uno|mega PORT=/dev/ttyACM0     avrdude through the Arduino bootloader
#   make simavr-runner build/tools/simavr-runner (the ELF under simavr, UART0 on a pty)
#   make arduino       the Arduino sketch arduino/DescentController with arduino-mk (uno)

BOARD    ?= uno
BAUD     ?= 115200
PORT     ?= /dev/ttyACM0
AVRDUDE  ?= avrdude
AVR_SIZE ?= avr-size
AVR_OBJCOPY ?= avr-objcopy

AVR_MCU_uno      := atmega328p
AVR_MCU_mega     := atmega2560
AVR_DUDE_uno     := -c arduino -p m328p -b 115200
AVR_DUDE_mega    := -c wiring -p m2560 -b 115200 -D
AVR_SRC          := ports/avr/main.c ports/avr/uart.c ports/avr/timer.c
# mb_server's receive and reply buffers (core default 256): the ICD's largest request is the
# 123-byte config write (57 registers), its largest reply the 119-byte config read; 128 saves
# 256 B of RAM.
AVR_ADU_MAX      ?= 128

# $(call avr_board,BOARD): build/avr-BOARD/skycrane.elf and .hex for one board
define avr_board
$(call program,avr-$(1),$(AVR_CC),$(WARN) $(INC) -mmcu=$(AVR_MCU_$(1)) -Os -DF_CPU=16000000UL \
    -DBAUD=$(BAUD)UL -DMB_ADU_MAX=$(AVR_ADU_MAX)u -DFW_DEVICE_KIND=ICD_DEVICE_KIND_AVR -ffunction-sections -fdata-sections \
    -fstack-usage,-Wl$(comma)--gc-sections -lm,$(CORE_SRC) $(AVR_SRC),$(BUILD)/avr-$(1)/skycrane.elf)
$(BUILD)/avr-$(1)/skycrane.hex: $(BUILD)/avr-$(1)/skycrane.elf
	$(AVR_OBJCOPY) -O ihex -R .eeprom $$< $$@
$$(avr-$(1)_OBJ): ports/avr/build.mk $(BUILD)/avr-$(1)/baud
# the baud rate and the buffer size are compiled in: a different BAUD= or AVR_ADU_MAX= rebuilds
$(BUILD)/avr-$(1)/baud: avr-baud-check
	@mkdir -p $$(@D)
	@echo $(BAUD) $(AVR_ADU_MAX) | cmp -s - $$@ || echo $(BAUD) $(AVR_ADU_MAX) > $$@
endef

comma := ,
$(foreach b,uno mega,$(eval $(call avr_board,$(b))))

.PHONY: avr flash simavr-runner arduino avr-baud-check
avr: $(BUILD)/avr-$(BOARD)/skycrane.hex
	$(AVR_SIZE) --format=berkeley $(BUILD)/avr-$(BOARD)/skycrane.elf
	@$(AVR_SIZE) --format=avr --mcu=$(AVR_MCU_$(BOARD)) $(BUILD)/avr-$(BOARD)/skycrane.elf 2>/dev/null \
	    | grep -E 'Program|Data' || true

# `flash` belongs to the port of the board asked for: the STM32 fragment handles its boards.
ifneq ($(filter uno mega,$(BOARD)),)
flash: $(BUILD)/avr-$(BOARD)/skycrane.hex
	$(AVRDUDE) $(AVR_DUDE_$(BOARD)) -P $(PORT) -U flash:w:$<:i
endif

include tools/simavr-runner/runner.mk

ARDUINO_MK ?= /usr/share/arduino/Arduino.mk
arduino:
	@if [ -f $(ARDUINO_MK) ]; then \
	    $(MAKE) -C arduino/DescentController BOARD_TAG=$(if $(filter mega,$(BOARD)),mega,uno); \
	else echo "arduino: $(ARDUINO_MK) not installed (apt install arduino-mk), sketch build skipped"; fi
