// SPDX-License-Identifier: GPL-2.0
/*
 * Where the image's metadata lay at attach, so that no L2 entry may name
 * a metadata cluster as data (a write there would overwrite the tables).
 *
 * The memory this takes is set by the image, so it follows the image's
 * structure, not its size in clusters: tables that span many clusters
 * (header, L1, refcount table, snapshot table, snapshot L1 tables) are one
 * range each, in a sorted array; the single-cluster tables (active L2
 * tables, refcount blocks) are one 8-byte slot each in an open-addressed
 * hash set. QEMU's caps bound both: 65536 snapshots, 4 Mi L1 entries and
 * 1 Mi refcount table entries, so at most 1.6 MiB of ranges and 64 MiB of
 * slots for the largest image QEMU accepts; a 1 TiB image of 64 KiB
 * clusters needs 32 KiB. Building it is linear in the tables' entries.
 *
 * Clusters allocated after attach need no entry: they lie past the end of
 * the file at attach, where no table this device did not write may point
 * (qcow2_validate_l2()).
 */
#include "qcow2.h"

#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>

/* Slot contents: cluster + 1 in the low bits, the kind in the top byte. */
#define SLOT_KIND_SHIFT		56
#define SLOT_CLUSTER_MASK	((1ULL << SLOT_KIND_SHIFT) - 1)

static const char *kind_name(enum qcow2_meta_kind kind)
{
	switch (kind) {
	case QCOW2_META_HEADER:
		return "the header";
	case QCOW2_META_L1:
		return "the L1 table";
	case QCOW2_META_L2:
		return "an L2 table";
	case QCOW2_META_REFTABLE:
		return "the refcount table";
	case QCOW2_META_REFBLOCK:
		return "a refcount block";
	case QCOW2_META_SNAPSHOTS:
		return "the snapshot table";
	case QCOW2_META_SNAPSHOT_L1:
		return "a snapshot L1 table";
	}
	return "metadata";
}

/**
 * qcow2_meta_map_init - room for @ranges ranges and @singles clusters
 * @m: the map
 * @ranges: most ranges that will be added
 * @singles: most single clusters that will be added
 */
int qcow2_meta_map_init(struct qcow2_meta_map *m, u32 ranges, u64 singles)
{
	u64 slots = roundup_pow_of_two(max_t(u64, 64, singles + singles / 3 + 1));

	m->range = kvmalloc_array(ranges, sizeof(*m->range), GFP_KERNEL);
	m->slot = kvcalloc(slots, sizeof(*m->slot), GFP_KERNEL);
	if (!m->range || !m->slot) {
		qcow2_meta_map_free(m);
		return -ENOMEM;
	}
	m->max_ranges = ranges;
	m->nr_ranges = 0;
	m->slot_bits = ilog2(slots);
	m->max_singles = singles;
	m->nr_singles = 0;
	return 0;
}

void qcow2_meta_map_free(struct qcow2_meta_map *m)
{
	kvfree(m->range);
	kvfree(m->slot);
	m->range = NULL;
	m->slot = NULL;
}

/* Add the @n clusters from @first as @kind; checked by _seal(). */
void qcow2_meta_map_add_range(struct qcow2_meta_map *m, u64 first, u64 n,
			      enum qcow2_meta_kind kind)
{
	if (WARN_ON_ONCE(m->nr_ranges == m->max_ranges) || !n)
		return;
	m->range[m->nr_ranges++] = (struct qcow2_meta_range) {
		.first = first, .last = first + n - 1, .kind = kind,
	};
}

static int cmp_range(const void *a, const void *b)
{
	const struct qcow2_meta_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* The range holding @cluster, or NULL. */
static const struct qcow2_meta_range *find_range(const struct qcow2_meta_map *m,
						 u64 cluster)
{
	u32 lo = 0, hi = m->nr_ranges, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->range[mid].last < cluster)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->nr_ranges && m->range[lo].first <= cluster)
		return &m->range[lo];
	return NULL;
}

/* Sort the ranges and refuse any two that share a cluster. */
int qcow2_meta_map_seal(struct qcow2_meta_map *m, u32 cluster_bits,
			struct qcow2_err *err)
{
	const struct qcow2_meta_range *a, *b;
	u32 i;

	sort(m->range, m->nr_ranges, sizeof(*m->range), cmp_range, NULL);
	for (i = 1; i < m->nr_ranges; i++) {
		a = &m->range[i - 1];
		b = &m->range[i];
		if (b->first <= a->last)
			return qcow2_fail(err, EINVAL, "%s at 0x%llx overlaps %s",
					  kind_name(b->kind),
					  b->first << cluster_bits,
					  kind_name(a->kind));
	}
	return 0;
}

static u64 *probe(struct qcow2_meta_map *m, u64 cluster)
{
	u64 mask = (1ULL << m->slot_bits) - 1, i = hash_64(cluster, m->slot_bits);

	/* Never full: at most 3/4 of the slots are used. */
	while (m->slot[i] &&
	       (m->slot[i] & SLOT_CLUSTER_MASK) != cluster + 1)
		i = (i + 1) & mask;
	return &m->slot[i];
}

/*
 * Add the single cluster @cluster as @kind, after _seal(); refuses one
 * that another table already takes.
 */
int qcow2_meta_map_add(struct qcow2_meta_map *m, u64 cluster,
		       enum qcow2_meta_kind kind, u32 cluster_bits,
		       struct qcow2_err *err)
{
	const struct qcow2_meta_range *r = find_range(m, cluster);
	u64 *slot;

	if (r)
		return qcow2_fail(err, EINVAL, "%s at 0x%llx overlaps %s",
				  kind_name(kind), cluster << cluster_bits,
				  kind_name(r->kind));
	if (WARN_ON_ONCE(m->nr_singles == m->max_singles))
		return qcow2_fail(err, EINVAL, "too many tables");
	slot = probe(m, cluster);
	if (*slot)
		return qcow2_fail(err, EINVAL, "%s at 0x%llx overlaps %s",
				  kind_name(kind), cluster << cluster_bits,
				  kind_name(*slot >> SLOT_KIND_SHIFT));
	*slot = (cluster + 1) | (u64)kind << SLOT_KIND_SHIFT;
	if (!(++m->nr_singles & 4095))
		cond_resched();
	return 0;
}

/* Whether @cluster held metadata at attach. */
bool qcow2_meta_map_has(const struct qcow2_meta_map *m, u64 cluster)
{
	return find_range(m, cluster) ||
	       *probe((struct qcow2_meta_map *)m, cluster);
}

/* The cluster after the last one that held metadata at attach. */
u64 qcow2_meta_map_end(const struct qcow2_meta_map *m)
{
	u64 end = 0, i, c;
	u32 r;

	for (r = 0; r < m->nr_ranges; r++)
		end = max(end, m->range[r].last + 1);
	for (i = 0; i < 1ULL << m->slot_bits; i++) {
		c = m->slot[i] & SLOT_CLUSTER_MASK;
		end = max(end, c);
		if (!(i & 65535))
			cond_resched();
	}
	return end;
}
