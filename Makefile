# ponder — build, test, demo.
#
#   make            library (build/libponder.a) and tool (build/ponder)
#   make test       install missing deps, build, run every test; ends with "N passed, N failed"
#   make demo       install missing deps, build, run the demo
#   make asan-test  the tests again under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      build the benchmarks (bench/*.c) into build/bench/
#   make fuzz       build the libFuzzer targets (fuzz/*.c, needs clang) into build/fuzz/

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread -Iinclude -Isrc
LDLIBS  += -lpcre2-8 -lutf8proc -ljansson -lcurl -lmicrohttpd -lgmp -lyaml -lm -pthread

LIB_SRC   := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
HEADERS  := $(wildcard include/*.h include/ponder/*.h src/*/*.h tests/*.h)

.PHONY: all deps test demo asan-test bench fuzz clean tests
all: $(BUILD)/ponder

deps:
	@sh scripts/deps.sh

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libponder.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@.tmp && ar rcsP $@.tmp $^ && mv -f $@.tmp $@

$(BUILD)/ponder: $(CLI_OBJ) $(BUILD)/libponder.a
	$(CC) $(CFLAGS) -o $@.tmp $(CLI_OBJ) $(BUILD)/libponder.a $(LDLIBS) && mv -f $@.tmp $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libponder.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@.tmp $< $(BUILD)/libponder.a $(LDLIBS) && mv -f $@.tmp $@

$(BUILD)/bench/%: bench/%.c $(BUILD)/libponder.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libponder.a $(LDLIBS)

tests: $(BUILD)/ponder $(TESTS)

test: deps
	@$(MAKE) --no-print-directory -j2 tests
	@sh tests/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory -j2 all
	@$(BUILD)/ponder demo

asan-test:
	@$(MAKE) --no-print-directory -j2 BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" tests
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh tests/run.sh build-asan

bench: $(BENCHES)

# Fuzz targets: each fuzz/fuzz_X.c defines LLVMFuzzerTestOneInput; built with clang + libFuzzer.
# The library is compiled once (instrumented, without libFuzzer's main) into
# $(BUILD)/fuzz/libponder.a and every target links against it.
FUZZ_SAN    = address,undefined
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Isrc -pthread
FUZZ_OBJ   := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c $< -o $@

$(BUILD)/fuzz/libponder.a: $(FUZZ_OBJ)
	rm -f $@.tmp && ar rcsP $@.tmp $^ && mv -f $@.tmp $@

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(BUILD)/fuzz/libponder.a $(HEADERS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< $(BUILD)/fuzz/libponder.a $(LDLIBS)

fuzz: $(FUZZERS)

# Run every fuzz target for FUZZ_SECONDS each (default 60) on its seed corpus in fuzz/corpus/<name>/.
FUZZ_SECONDS ?= 60
fuzz-run: fuzz
	@for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=5 build/fuzz/corpus-$$n $$( [ -d fuzz/corpus/$$n ] && echo fuzz/corpus/$$n ) || exit 1; done

clean:
	rm -rf build build-asan
