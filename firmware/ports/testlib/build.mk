# Test-library port, included by firmware/Makefile:
#   make testlib    build/testlib/libskycrane-core.so: the core and ports/testlib as a shared
#                   library with UBSan, loaded by the host's tests through ctypes
#                   (hil/devices/c_core.py) on a clock the test sets
# UBSan only: ASan must be the first library of the process, which a Python test cannot arrange;
# the sanitizer build of the same core (make host) and the fuzzer cover ASan.

TESTLIB_FLAGS := $(WARN) $(INC) $(HOST_DEF) -fPIC -fvisibility=hidden -O1 -g \
                 -fsanitize=undefined -fno-sanitize-recover=all
$(eval $(call program,testlib,$(GCC),$(TESTLIB_FLAGS),-shared -fsanitize=undefined -lm,\
    $(CORE_SRC) ports/testlib/port_testlib.c,$(BUILD)/testlib/libskycrane-core.so))

.PHONY: testlib
testlib: $(BUILD)/testlib/libskycrane-core.so
