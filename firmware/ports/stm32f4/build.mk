# STM32F4 port (bare metal, no HAL), included by firmware/Makefile:
#   make stm32 BOARD=netduinoplus2|nucleo-f446re   build/stm32-<board>/skycrane.elf and .bin, then size
#   make stm32-all                                 both boards (also part of `make check`)
#   make flash BOARD=nucleo-f446re                 openocd through the ST-LINK (flash-stm32 does
#                                                  the same for any BOARD of this port)
#   make qemu-stm32                                the netduinoplus2 image under QEMU, USART1 on a pty
# BOARD defaults to netduinoplus2 unless given on the command line or in the environment.

STM32_BOARDS  := netduinoplus2 nucleo-f446re
ARM_SIZE      ?= arm-none-eabi-size
ARM_OBJCOPY   ?= arm-none-eabi-objcopy
OPENOCD       ?= openocd
QEMU_ARM      ?= qemu-system-arm
STM32_DIR     := ports/stm32f4
STM32_SRC     := $(STM32_DIR)/startup.c $(STM32_DIR)/clock.c $(STM32_DIR)/timer.c \
                 $(STM32_DIR)/uart.c $(STM32_DIR)/main.c
STM32_CFLAGS  := $(WARN) $(INC) $(ARM_FLAGS) -I$(STM32_DIR) -ffunction-sections -fdata-sections \
                 -fno-math-errno -fstack-usage -g
STM32_LDFLAGS := -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,--print-memory-usage \
                 -L$(STM32_DIR) -lm

# The board: BOARD when it is one of ours; another port's default BOARD (from its fragment) is
# not an error, a BOARD of another port given on the command line is.
ifneq ($(filter $(STM32_BOARDS),$(BOARD)),)
STM32_BOARD := $(BOARD)
else ifneq ($(filter command line environment,$(origin BOARD)),)
STM32_BOARD := $(BOARD)
else
STM32_BOARD := netduinoplus2
endif
STM32_ELF := $(BUILD)/stm32-$(STM32_BOARD)/skycrane.elf

# openocd command per board: the Nucleo's on-board ST-LINK/V2-1; the Netduino Plus 2 has none,
# its command assumes an external ST-LINK on the SWD pads
FLASH_CMD_nucleo-f446re = $(OPENOCD) -f interface/stlink.cfg -f target/stm32f4x.cfg \
    -c "program $(1) verify reset exit"
FLASH_CMD_netduinoplus2 = $(OPENOCD) -f interface/stlink.cfg -f target/stm32f4x.cfg \
    -c "program $(1) verify reset exit"

# $(call stm32_board,BOARD): build/stm32-BOARD/skycrane.elf and .bin
define stm32_board
$(call objects,stm32-$(1),$(ARM_CC),$(STM32_CFLAGS) -I$(STM32_DIR)/boards/$(1),$(CORE_SRC) $(STM32_SRC))
$$(stm32-$(1)_OBJ): $(STM32_DIR)/build.mk
$(BUILD)/stm32-$(1)/skycrane.elf: $$(stm32-$(1)_OBJ) $(STM32_DIR)/stm32f4.ld $(STM32_DIR)/boards/$(1)/board.ld
	$(ARM_CC) $(STM32_CFLAGS) $$(filter %.o,$$^) -T $(STM32_DIR)/boards/$(1)/board.ld $(STM32_LDFLAGS) \
	    -Wl,-Map=$$(@D)/skycrane.map -o $$@
$(BUILD)/stm32-$(1)/skycrane.bin: $(BUILD)/stm32-$(1)/skycrane.elf
	$(ARM_OBJCOPY) -O binary $$< $$@
endef
$(foreach b,$(STM32_BOARDS),$(eval $(call stm32_board,$(b))))

.PHONY: stm32 stm32-all check-stm32 flash-stm32 qemu-stm32 stm32-board-known
stm32-board-known:
	@$(if $(filter $(STM32_BOARDS),$(STM32_BOARD)),:,echo "BOARD=$(STM32_BOARD) is not an STM32 board ($(STM32_BOARDS))"; exit 2)

stm32: stm32-board-known $(STM32_ELF) $(STM32_ELF:.elf=.bin)
	$(ARM_SIZE) $(STM32_ELF)

stm32-all: $(foreach b,$(STM32_BOARDS),$(BUILD)/stm32-$(b)/skycrane.elf $(BUILD)/stm32-$(b)/skycrane.bin)
	$(ARM_SIZE) $(filter %.elf,$^)

flash-stm32: stm32-board-known $(STM32_ELF)
	$(call FLASH_CMD_$(STM32_BOARD),$(STM32_ELF))

# `make flash` is shared with the other ports: this fragment answers it only for its own boards
ifneq ($(filter $(STM32_BOARDS),$(BOARD)),)
.PHONY: flash
flash: flash-stm32
endif

# QEMU's Netduino Plus 2: USART1 on a new pty, announced on stdout as
# "char device redirected to /dev/pts/N (label serial0)"; ends with Ctrl-C / SIGTERM.
qemu-stm32: $(BUILD)/stm32-netduinoplus2/skycrane.elf
	$(QEMU_ARM) -M netduinoplus2 -nographic -monitor none -serial pty -kernel $<

# `make check` builds every STM32 board when the cross compiler is there
ifneq ($(HAVE_ARM),)
check-stm32: stm32-all
check: check-stm32
endif
