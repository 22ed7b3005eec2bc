# Template port (commented stubs, no hardware), included by firmware/Makefile:
#   make template-check   the core and ports/template with the host gcc under $(WARN), linked
#                         into build/template/skycrane-template. It proves the template compiles
#                         and defines every port.h function; it does not run (the stubs touch
#                         nothing). tests/test_port_template.py builds it.
# A new port copies this file to ports/<name>/build.mk and renames TEMPLATE_/template: every
# fragment is included into the one Makefile, so each prefixes its variables and targets, adds
# nothing to `all`, and keeps `flash` and BOARD for its own boards (see ports/stm32f4/build.mk).

TEMPLATE_DIR     := ports/template
TEMPLATE_SRC     := $(TEMPLATE_DIR)/main.c $(TEMPLATE_DIR)/port_template.c
# A real port: its cross compiler (AVR_CC, ARM_CC or a new one) and CPU flags, and its own
# device kind: add it to DeviceKind in hil/icd.py and run `hil icd generate` (that does not
# change the layout hash). The template borrows the SIL's kind.
TEMPLATE_CC      ?= $(GCC)
TEMPLATE_KIND    := ICD_DEVICE_KIND_SIL
# mb_server's receive and reply buffers: less than the core's 256 on a small RAM (AVR: 128),
# but never less than the ICD's largest frame, the write of the whole config block.
TEMPLATE_ADU_MAX ?= 256
TEMPLATE_CFLAGS  := $(WARN) $(INC) -DFW_DEVICE_KIND=$(TEMPLATE_KIND) -DMB_ADU_MAX=$(TEMPLATE_ADU_MAX)u -O2
TEMPLATE_LDFLAGS := -lm

$(eval $(call program,template,$(TEMPLATE_CC),$(TEMPLATE_CFLAGS),$(TEMPLATE_LDFLAGS),\
    $(CORE_SRC) $(TEMPLATE_SRC),$(BUILD)/template/skycrane-template))
# editing this fragment rebuilds the port, as editing the Makefile does
$(template_OBJ): $(TEMPLATE_DIR)/build.mk

.PHONY: template-check
template-check: $(BUILD)/template/skycrane-template
