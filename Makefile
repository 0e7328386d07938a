# Thin front end over CMake, as Neovim's: the README's commands live here.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all deps build test sanitize demo bench clean

all: build

deps:
	@tools/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The same suites under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DKUBELUA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

# The main job: the tutorial on a local kubesim, then a 401 explained.
demo: build
	KUBELUA=$(BUILD)/kubelua tools/demo

bench: build
	tests/bench/run

clean:
	rm -rf $(BUILD) build-asan
