// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: output: sizes in binary units, JSON strings.
 */
#include "qcow2ctl.h"

void human(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	int u = 0;
	double d = v;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.4g %ciB", d, units[u]);
}

/* A JSON string literal of @s. */
void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}
