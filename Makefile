# spokewire: one non-recursive Makefile.  `make` builds build/spokewire;
# `make check` builds the sanitizer test tree under build/test and runs the suite.
# V=1 shows the commands.

CC ?= cc
BUILD ?= build
# Linked: what every role uses. Lazy: opened on first use by the roles
# that need them (src/lazy/), so a device daemon does not load them.
PKGS := libsodium libb2 libcrypto gmp jansson
LAZY_PKGS := libmicrohttpd libcurl sqlite3 libpq libqrencode

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(LAZY_PKGS) libssl 2>/dev/null)
# The gateway's HTTP parser: llhttp's C sources as Debian's node-llhttp
# ships them, built with the rest (they are generated code: their own
# warnings are theirs).
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl

CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
	-D_GNU_SOURCE -Isrc -I$(LLHTTP_INC) -MMD -MP $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread

ifeq ($(SAN),1)
ALL_CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
# libFuzzer build (clang): `make fuzz` sets this in a tree of its own.
ifeq ($(FUZZ),1)
ALL_CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

SRC := $(shell find src -name '*.c' | sort)
MAIN := src/cli/main.c
LIB_SRC := $(filter-out $(MAIN),$(SRC))
LLHTTP_SRC := $(wildcard $(LLHTTP_DIR)/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LLHTTP_SRC:$(LLHTTP_DIR)/%.c=$(BUILD)/llhttp/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Test tools with a main of their own (tests/netstack/: the harness that
# puts the netstack behind a TUN device, the kernel's TCP its peer).
HARNESS_SRC := $(sort $(wildcard tests/netstack/*.c))
HARNESS_BIN := $(BUILD)/netstack-harness
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench-%)

all: $(BUILD)/spokewire $(BUILD)/contacts-api

# The reference edge application (examples/contacts-api/).
CONTACTS_SRC := $(sort $(wildcard examples/contacts-api/*.c))
$(BUILD)/contacts-api: $(CONTACTS_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/spokewire: $(BUILD)/$(MAIN:.c=.o) $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libspokewire.a: $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(filter-out -Wall -Wextra -Werror,$(ALL_CFLAGS)) -w -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/unit.o $(BUILD)/libspokewire.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(HARNESS_BIN): $(HARNESS_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(BUILD)/spokewire $(BUILD)/contacts-api $(TEST_BIN) $(HARNESS_BIN)

# Microbenchmarks run by the bench/ scripts.
bench-bins: $(BENCH_BIN)
$(BUILD)/bench-%: $(BUILD)/bench/%.o $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libFuzzer targets: fuzz/fuzz_NAME.c -> build/fuzz/fuzz_NAME, run e.g.
# build/fuzz/fuzz_receive -max_total_time=60 fuzz/corpus/receive
fuzz:
	$(Q)$(MAKE) --no-print-directory CC=clang BUILD=build/fuzz FUZZ=1 fuzz-targets
fuzz-targets: $(FUZZ_SRC:fuzz/%.c=$(BUILD)/%)
$(BUILD)/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(BUILD)/libspokewire.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check:
	$(Q)./tests/run.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, the man pages,
# and the systemd units (their ExecStart names the installed binary).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS := $(wildcard deploy/systemd/*.service)
install: $(BUILD)/spokewire
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BUILD)/spokewire $(DESTDIR)$(BINDIR)/spokewire
	install -m 0644 man/spokewire.8 $(DESTDIR)$(MANDIR)/man8/spokewire.8
	install -m 0644 man/spokewire.conf.5 $(DESTDIR)$(MANDIR)/man5/spokewire.conf.5
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u >$(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/spokewire $(DESTDIR)$(MANDIR)/man8/spokewire.8 \
		$(DESTDIR)$(MANDIR)/man5/spokewire.conf.5
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$${u##*/}; done

clean:
	rm -rf build

.PHONY: all tests bench-bins fuzz fuzz-targets check clean install uninstall
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
