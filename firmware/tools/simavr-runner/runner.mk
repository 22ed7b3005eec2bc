# The simavr runner (host program, links libsimavr): included by ports/avr/build.mk.
SIMAVR_RUNNER := $(BUILD)/tools/simavr-runner
SIMAVR_CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror

$(SIMAVR_RUNNER): tools/simavr-runner/simavr_runner.c tools/simavr-runner/runner.mk
	@mkdir -p $(@D)
	$(GCC) $(SIMAVR_CFLAGS) $< -o $@ -lsimavr -lelf

simavr-runner: $(SIMAVR_RUNNER)
