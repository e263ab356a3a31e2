#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The control device's ABI (ctl_test.c), with the module loaded.
. "$(dirname "$0")/lib.sh"

module_load
exec "$QCOW2_TOP/selftests/ctl_test"
