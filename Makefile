# lemma build. Out-of-tree in $(BUILD)/, safe with -j.
#   make            build/lemma (CUDA too when nvcc is on PATH; USE_CUDA=0 turns it off)
#   make test       the whole CPU suite, ends with "N passed, N failed, N skipped"
#   make demo       the biggest thing that works so far
#   make bench      CPU benchmarks (tests/bench/)
#   make deps       Debian packages the project needs
#   make test-gpu / bench-gpu   on a machine with an NVIDIA GPU
#   make gpu-pack   a build for the lent GPU machine (no MPI, static libconfig/OpenBLAS)

BUILD    ?= build
USE_CUDA ?= $(if $(shell command -v nvcc 2>/dev/null),$(if $(wildcard src/backend/cuda/*.cu),1,0),0)
USE_MPI  ?= 1
CPU_ARCH ?= native
# Static libconfig for binaries that travel to machines without it.
STATIC_DEPS ?= 0
# USE_BLAS=0: no OpenBLAS; the CPU backend uses its own plain sgemm (slower; GPU-machine builds).
USE_BLAS ?= 1
CUDA_HOME ?= $(or $(patsubst %/bin/nvcc,%,$(shell command -v nvcc 2>/dev/null)),/usr/local/cuda)
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90

ifeq ($(USE_MPI),1)
  CC := mpicc
  DEFS := -DLEMMA_MPI=1 -DLEMMA_HDF5=1
  HDF5_PKG := hdf5-openmpi
else
  CC := gcc
  DEFS := -DLEMMA_MPI=0
endif
ifeq ($(USE_BLAS),1)
  PKGS := libconfig openblas libcjson libpcre2-8 libutf8proc $(HDF5_PKG)
  DEFS += -DLEMMA_BLAS=1
else
  PKGS := libconfig libcjson libpcre2-8 libutf8proc $(HDF5_PKG)
  DEFS += -DLEMMA_BLAS=0
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ifeq ($(STATIC_DEPS),1)
  PKG_LIBS := $(shell pkg-config --variable=libdir libconfig)/libconfig.a \
              $(filter-out -lconfig,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
else
  PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
endif

CFLAGS ?= -O2 -march=$(CPU_ARCH) -g
# -fno-trapping-math: the program never traps on floating-point exceptions; without it gcc
# keeps the compares in exp/sigmoid as branches and leaves those loops scalar on AVX2.
CFLAGS += -std=c11 -D_GNU_SOURCE -fopenmp -fno-trapping-math -Wall -Wextra -Werror -Iinclude $(PKG_CFLAGS) $(DEFS)
LDLIBS := $(PKG_LIBS) -lm -fopenmp

ifeq ($(USE_CUDA),1)
  NVCC := $(CUDA_HOME)/bin/nvcc
  CFLAGS += -DLEMMA_CUDA=1 -I$(CUDA_HOME)/include
  NVFLAGS := -O3 -std=c++17 $(CUDA_ARCH) -Iinclude $(DEFS) -DLEMMA_CUDA=1 \
             --Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror,-fopenmp -lineinfo
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 \
            -lcublasLt -lcublas -lcudart_static -lstdc++ -ldl -lrt -lpthread
  CU_SRC := $(shell find src -name '*.cu' -not -name '.*' 2>/dev/null)
else
  CFLAGS += -DLEMMA_CUDA=0
  CU_SRC :=
endif

LIB_SRC := $(filter-out src/main.c,$(shell find src -name '*.c' -not -name '.*'))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.cu.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)
GPU_TEST_BIN := $(GPU_TEST_SRC:tests/gpu/%.c=$(BUILD)/tests/%)
MPI_TEST_SRC := $(wildcard tests/mpi/*.c)
MPI_TEST_BIN := $(MPI_TEST_SRC:tests/mpi/%.c=$(BUILD)/mpi/%)
SUPPORT_SRC := $(wildcard tests/support/*.c)
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
SUPPORT_LIB := $(BUILD)/libsupport.a
TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
DEPFILES := $(LIB_OBJ:.o=.d) $(SUPPORT_OBJ:.o=.d) $(BUILD)/obj/src/main.d $(VL16_OBJ:.o=.d)

.PHONY: all test demo bench deps clean test-gpu bench-gpu gpu-pack tests-build

all: $(BUILD)/lemma

# Objects depend on the compile flags: the stamp file changes when they do (a pull that
# changes CFLAGS rebuilds everything instead of mixing old and new objects).
FLAGS_STAMP := $(BUILD)/flags.txt
FLAGS_NOW := $(CC) $(CFLAGS) | $(NVFLAGS)
ifneq ($(FLAGS_NOW),$(shell cat $(FLAGS_STAMP) 2>/dev/null))
  $(shell mkdir -p $(BUILD) && printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/liblemma.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# What tests and benchmarks share (tests/support/): never linked into lemma itself.
$(BUILD)/obj/tests/support/%.o: tests/support/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/support -MMD -MP -c $< -o $@

$(SUPPORT_LIB): $(SUPPORT_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lemma: $(BUILD)/obj/src/main.o $(BUILD)/liblemma.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/harness.h $(SUPPORT_LIB) $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(SUPPORT_LIB) $(BUILD)/liblemma.a -o $@ $(LDLIBS)

# The CPU kernels in AVX-512's shapes (64-byte vectors; gcc splits them where the CPU has
# none), so that machines without AVX-512 still test that code: these objects replace the
# library's in the *_vl16 test binaries.
VL16_OBJ := $(BUILD)/obj-vl16/cpu_decode.o $(BUILD)/obj-vl16/cpu_attention.o
$(BUILD)/obj-vl16/%.o: src/backend/cpu/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DLEMMA_VL16 -Wno-psabi -MMD -MP -c $< -o $@

.SECONDARY: $(VL16_OBJ)
VL16_TESTS := $(BUILD)/tests/test_sample_decode_vl16 $(BUILD)/tests/test_ops_cpu_vl16
$(BUILD)/tests/%_vl16: tests/unit/%.c tests/harness.h $(VL16_OBJ) $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(VL16_OBJ) $(BUILD)/liblemma.a -o $@ $(LDLIBS)

$(BUILD)/tests/%: tests/gpu/%.c tests/harness.h $(SUPPORT_LIB) $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(SUPPORT_LIB) $(BUILD)/liblemma.a -o $@ $(LDLIBS)

$(BUILD)/mpi/%: tests/mpi/%.c $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< $(BUILD)/liblemma.a -o $@ $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(wildcard tests/bench/*.h) $(SUPPORT_LIB) $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(SUPPORT_LIB) $(BUILD)/liblemma.a -o $@ $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(SUPPORT_LIB) $(BUILD)/liblemma.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Itests/support $< $(SUPPORT_LIB) $(BUILD)/liblemma.a -o $@ $(LDLIBS)

# The GPU tests and the benchmark are compiled with the suite (CI keeps them building);
# tests/run.sh runs the GPU tests only with --gpu.
tests-build: $(BUILD)/lemma $(TEST_BIN) $(VL16_TESTS) $(MPI_TEST_BIN) $(BENCH_BIN) $(TOOLS_BIN) \
             $(if $(filter 1,$(USE_CUDA)),$(GPU_TEST_BIN))

test: deps-check
	$(MAKE) tests-build
	BUILD=$(BUILD) bash tests/run.sh

test-gpu: $(BUILD)/lemma $(GPU_TEST_BIN)
	BUILD=$(BUILD) bash tests/run.sh --gpu

bench: deps-check $(BUILD)/lemma $(BENCH_BIN) $(TOOLS_BIN)
	BUILD=$(BUILD) bash tests/bench/run.sh

bench-gpu: $(BUILD)/lemma $(BENCH_BIN)
	BUILD=$(BUILD) bash tests/bench/run.sh --gpu

demo: deps-check
	$(MAKE) $(BUILD)/lemma
	BUILD=$(BUILD) bash scripts/demo.sh

# The build for the lent GPU machine: no MPI, no OpenBLAS, libconfig linked statically, the
# remaining small shared libraries copied beside it (docs/gpu.md).
gpu-pack:
	$(MAKE) BUILD=build-gpu USE_MPI=0 USE_BLAS=0 USE_CUDA=1 STATIC_DEPS=1 CPU_ARCH=x86-64-v3 \
	    CUDA_ARCH=-gencode=arch=compute_90,code=sm_90 \
	    build-gpu/lemma $(GPU_TEST_SRC:tests/gpu/%.c=build-gpu/tests/%) \
	    $(BENCH_SRC:tests/bench/%.c=build-gpu/bench/%)
	bash scripts/gpu_pack_libs.sh build-gpu

deps:
	@bash scripts/deps.sh

# Installs dependencies when something is missing (quiet when all is there).
deps-check:
	@bash scripts/deps.sh --quiet

clean:
	rm -rf $(BUILD) build-gpu

-include $(DEPFILES)
