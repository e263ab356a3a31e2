# SPDX-License-Identifier: GPL-2.0
#
# qcow2 block driver.
#
#   make                build qcow2.ko against KDIR and qcow2ctl
#   make demo           the main job end to end (in a guest kernel when the
#                       running kernel cannot load modules)
#   make check          install what is missing, build for every supported
#                       kernel, run the tests (matrix slices; the compat
#                       tests on 6.1, the driver tests on the debug kernel);
#                       ends with "N passed, N failed"
#   make check-full     every test whole on both stock kernels, every test
#                       (in its slices) on the debug kernel, every
#                       durability case
#   make bench          fio against loop and qemu-nbd, creation time and memory
#                       in a guest; writes bench/results.md and results.png
#   make unit           host-side unit tests of the on-disk format code
#   make fuzz           libFuzzer over the format code, FUZZ_TIME seconds per
#                       target (default 300), growing build/fuzz/corpus-*/
#   make fuzz-build     just build the fuzz targets
#   make fuzz-images    mutated images attached in a guest: N=1000 of them
#                       (default) on KERNEL=debug (default), 6.1 or 6.12
#   make deps           install the Debian packages the project needs
#   make install        install qcow2.ko (for modprobe) and qcow2ctl, its
#                       man page, bash completion and udev rules
#   make dkms-install   the module's source to /usr/src/qcow2-VERSION, built
#                       and installed by DKMS for every kernel with headers,
#                       and rebuilt by DKMS for each new kernel
#   make dkms-uninstall  undoes it (the module's builds, its source, the tool)
#   make deb            the Debian packages qcow2-dkms and qcow2ctl, with
#                       dpkg-buildpackage, checked by lintian, in build/deb/
#   make clean
#
# KDIR selects the kernel headers or tree; by default the running kernel's
# build directory when it exists, else the newest Debian headers installed.
# The module is built in build/<kernelrelease>/ and qcow2.ko links to it.
#
# (Kbuild, not this file, describes the module to the kernel's build.)

KDIR ?= $(shell scripts/default-kdir.sh)
CC ?= cc
CFLAGS ?= -O2 -g
VERSION := $(shell cat VERSION)
# Warnings are errors here; the Debian package build (debian/rules) turns
# that off, so that a newer compiler's new warning does not fail it.
WERROR ?= -Werror
USER_CFLAGS := $(CFLAGS) -Wall -Wextra $(WERROR) -Iuapi -D_GNU_SOURCE \
	-DQCOW2_VERSION='"$(VERSION)"'
UNIT_CFLAGS := -O1 -g -Wall -Werror -fsanitize=address,undefined \
	-fno-sanitize-recover=all -Idriver -Iuserspace -DQCOW2_VERSION='"$(VERSION)"'

# The on-disk format code, built into the module and into userspace.
FORMAT_SRC := driver/qcow2_format.c driver/qcow2_format.h userspace/kerncompat.h

all: module qcow2ctl

module:
	@test -n "$(KDIR)" || { echo "no kernel headers found: set KDIR= or run 'make deps'" >&2; exit 1; }
	@dir=$$(scripts/build-module.sh "$(KDIR)") && ln -sfn "$$dir/qcow2.ko" qcow2.ko && \
		echo "built $$dir/qcow2.ko"

# Test-only module that provokes kernel splats (selftests/splat/).
splat:
	@scripts/build-module.sh "$(KDIR)" selftests/splat > /dev/null

qcow2ctl: userspace/qcow2ctl

QCOW2CTL_SRC := $(addprefix userspace/,qcow2ctl.c args.c output.c control.c create.c \
	attach.c detach.c list.c info.c chain.c image.c)
QCOW2CTL_HDR := userspace/qcow2ctl.h userspace/chain.h userspace/image.h
userspace/qcow2ctl: $(QCOW2CTL_SRC) $(QCOW2CTL_HDR) \
		uapi/linux/qcow2.h $(FORMAT_SRC)
	$(CC) $(USER_CFLAGS) -Idriver -Iuserspace -o $@ $(QCOW2CTL_SRC) driver/qcow2_format.c

# Everything built for the host: the tool, the selftest programs (run in
# guests) and the unit tests.
tools: qcow2ctl unit-build
	@$(MAKE) -s -C selftests all

KSFT_DIR = $(shell scripts/linux-src.sh)/tools/testing/selftests
selftests/unit/format_test: selftests/unit/format_test.c $(FORMAT_SRC)
	$(CC) $(UNIT_CFLAGS) -I$(KSFT_DIR) -o $@ $< driver/qcow2_format.c -lz

selftests/unit/mkimage: selftests/unit/mkimage.c $(FORMAT_SRC)
	$(CC) $(UNIT_CFLAGS) -o $@ $< driver/qcow2_format.c

# qcow2ctl with the sanitizers, and a stand-in for the control device, for
# the host test of its backing chains and snapshot lists (chain.sh).
selftests/unit/qcow2ctl: $(QCOW2CTL_SRC) $(QCOW2CTL_HDR) \
		uapi/linux/qcow2.h $(FORMAT_SRC)
	$(CC) $(UNIT_CFLAGS) -Iuapi -D_GNU_SOURCE -o $@ $(QCOW2CTL_SRC) driver/qcow2_format.c

# qcow2ctl's argument parsing and output helpers, without its main().
selftests/unit/args_test: selftests/unit/args_test.c $(QCOW2CTL_SRC) $(QCOW2CTL_HDR) \
		uapi/linux/qcow2.h $(FORMAT_SRC)
	$(CC) $(UNIT_CFLAGS) -Iuapi -D_GNU_SOURCE -I$(KSFT_DIR) -o $@ $< \
		$(filter-out userspace/qcow2ctl.c,$(QCOW2CTL_SRC)) driver/qcow2_format.c

selftests/unit/fake_control.so: selftests/unit/fake_control.c uapi/linux/qcow2.h
	$(CC) -O1 -g -Wall -Wextra -Werror -Iuapi -shared -fPIC -o $@ $< -ldl

unit-build: selftests/unit/format_test selftests/unit/mkimage \
	selftests/unit/qcow2ctl selftests/unit/fake_control.so selftests/unit/args_test

unit: unit-build
	selftests/unit/run.sh

# libFuzzer targets of the format code (selftests/fuzz/), with ASan and
# UBSan; everything they make stays in build/fuzz/.
FUZZ_CC ?= clang-14
FUZZ_CFLAGS := -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Idriver -Iuserspace
FUZZ_TARGETS := header snapshot entries refcount layout compressed
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_TIME ?= 300

build/fuzz/fuzz_%: selftests/fuzz/fuzz_%.c selftests/fuzz/fuzz.h $(FORMAT_SRC)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< driver/qcow2_format.c

# The seed extractor runs on qemu-img's images, not under the fuzzer.
build/fuzz/seeds: selftests/fuzz/seeds.c $(FORMAT_SRC)
	@mkdir -p build/fuzz
	$(CC) $(USER_CFLAGS) -Idriver -Iuserspace -o $@ $< driver/qcow2_format.c

fuzz-build: $(FUZZ_BINS) build/fuzz/seeds

fuzz: fuzz-build
	selftests/fuzz/run.sh -t $(FUZZ_TIME)

N ?= 1000
KERNEL ?= debug
fuzz-images:
	selftests/vm/fuzz-images.sh -k $(KERNEL) -n $(N)

deps:
	scripts/deps.sh

PREFIX ?= /usr/local

PREFIX ?= /usr/local
UDEVDIR ?= /lib/udev
install: all
	$(MAKE) -C "$(KDIR)" M="$$(dirname "$$(readlink -f qcow2.ko)")" modules_install
	$(MAKE) install-tools

# The tool and what goes with it, without the module (DKMS builds that).
install-tools: qcow2ctl
	install -D -m 0755 userspace/qcow2ctl $(DESTDIR)$(PREFIX)/sbin/qcow2ctl
	install -D -m 0644 userspace/man/qcow2ctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/qcow2ctl.8
	install -D -m 0644 userspace/completion/qcow2ctl \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/qcow2ctl
	install -D -m 0644 userspace/udev/60-qcow2.rules $(DESTDIR)$(UDEVDIR)/rules.d/60-qcow2.rules

dkms-install: install-tools
	scripts/dkms.sh install

uninstall-tools:
	rm -f $(DESTDIR)$(PREFIX)/sbin/qcow2ctl $(DESTDIR)$(PREFIX)/share/man/man8/qcow2ctl.8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/qcow2ctl \
		$(DESTDIR)$(UDEVDIR)/rules.d/60-qcow2.rules

dkms-uninstall:
	scripts/dkms.sh uninstall
	$(MAKE) uninstall-tools

deb:
	scripts/deb.sh

check:
	scripts/check.sh

check-full:
	QCOW2_FULL=1 scripts/check.sh

demo:
	scripts/demo.sh

bench:
	bench/run.sh

clean:
	rm -rf build qcow2.ko userspace/qcow2ctl selftests/unit/format_test selftests/unit/mkimage \
		selftests/unit/qcow2ctl selftests/unit/fake_control.so selftests/unit/args_test
	$(MAKE) -s -C selftests clean

.PHONY: all module splat qcow2ctl tools unit-build unit fuzz-build fuzz fuzz-images deps install install-tools uninstall-tools dkms-install dkms-uninstall deb check check-full demo bench clean
