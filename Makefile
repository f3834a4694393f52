# spokewire: one non-recursive Makefile.  `make` builds build/spokewire;
# `make check` builds the sanitizer test tree under build/test and runs the suite.
# V=1 shows the commands.

CC ?= cc
BUILD ?= build
PKGS := libsodium libb2 jansson libmicrohttpd libcurl sqlite3 libpq libqrencode

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
	-D_GNU_SOURCE -Isrc -MMD -MP $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

SRC := $(shell find src -name '*.c' | sort)
MAIN := src/cli/main.c
LIB_SRC := $(filter-out $(MAIN),$(SRC))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))

all: $(BUILD)/spokewire

$(BUILD)/spokewire: $(BUILD)/$(MAIN:.c=.o) $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libspokewire.a: $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/unit.o $(BUILD)/libspokewire.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(BUILD)/spokewire $(TEST_BIN)

# libFuzzer targets: clang only, built with ASan+UBSan and the fuzzer runtime.
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined
fuzz: $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
$(FUZZ_BUILD)/%: fuzz/%.c $(LIB_SRC)
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(PKG_LIBS) -lpthread

check:
	$(Q)./tests/run.sh

clean:
	rm -rf build

.PHONY: all tests fuzz check clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
