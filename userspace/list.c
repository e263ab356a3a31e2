// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl list: the attached devices and their images.
 */
#include "qcow2ctl.h"

int cmd_list(int argc, char **argv)
{
	struct qcow2_status *s;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	uint32_t *idx;
	int ctl, n, i, shown = 0;
	char size[32];

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "Usage: %s list [--json]\n", progname);
		return 2;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	n = list_devices(ctl, &idx);
	if (n < 0) {
		close(ctl);
		return 1;
	}
	s = malloc(sizeof(*s));
	if (!s) {
		close(ctl);
		free(idx);
		return 1;
	}
	if (json)
		printf("[");
	else if (n)
		printf("%-14s %10s %-3s %s\n", "DEVICE", "SIZE", "RO", "IMAGE");
	for (i = 0; i < n; i++) {
		/* Detached meanwhile: not listed. */
		if (get_status(ctl, idx[i], s))
			continue;
		if (json) {
			printf("%s\n  {\"device\": \"/dev/" QCOW2_DEVICE_NAME "%u\", \"image\": ",
			       shown ? "," : "", idx[i]);
			json_str(s->path);
			printf(", \"size\": %llu, \"read_only\": %s, \"cluster_size\": %u, \"version\": %u}",
			       (unsigned long long)s->size,
			       s->state & QCOW2_STATE_READ_ONLY ? "true" : "false",
			       s->cluster_size, s->version);
		} else {
			human(s->size, size, sizeof(size));
			printf("/dev/" QCOW2_DEVICE_NAME "%-4u %10s %-3s %s\n",
			       idx[i], size,
			       s->state & QCOW2_STATE_READ_ONLY ? "1" : "0",
			       s->path);
		}
		shown++;
	}
	if (json)
		printf("%s]\n", shown ? "\n" : "");
	free(s);
	free(idx);
	close(ctl);
	return 0;
}
