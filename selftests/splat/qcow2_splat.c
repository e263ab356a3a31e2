// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module that provokes the kernel splats the guest harness must
 * catch, so that a harness which stopped noticing them fails its own test.
 * Never part of the product: it is built only for "make check".
 *
 *   insmod qcow2_splat.ko provoke=warn,kasan,leak,lockdep,pin,oops,slub
 *
 * "slub" frees an object twice in a cache named like the bio caches, on
 * which the stock guests boot with SLUB's consistency checks
 * (slub_debug=FZ,bio-*): SLUB reports the second free and ignores it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>

static char *provoke = "";
module_param(provoke, charp, 0444);
MODULE_PARM_DESC(provoke, "comma-separated: warn, kasan, leak, lockdep, pin, oops, slub");

static DEFINE_MUTEX(splat_a);
static DEFINE_MUTEX(splat_b);

static void splat_kasan(void)
{
	char *p = kmalloc(16, GFP_KERNEL);
	size_t i = 16;

	if (!p)
		return;
	/* Hide the index so the compiler cannot refuse the overflow. */
	OPTIMIZER_HIDE_VAR(i);
	pr_info("out-of-bounds read: %d\n", READ_ONCE(p[i]));
	kfree(p);
}

/* One object whose only reference dies with this frame. */
static noinline void splat_leak_one(size_t size)
{
	void *p = kmalloc(size, GFP_KERNEL);

	OPTIMIZER_HIDE_VAR(p);
}

static void splat_leak(void)
{
	size_t i;

	/*
	 * A stale copy of a pointer, in a register or in a stack slot that a
	 * later call has not overwritten yet, keeps kmemleak from reporting
	 * that one object: leak several from the same slot, so that at most
	 * the last one can hide.
	 */
	for (i = 0; i < 8; i++)
		splat_leak_one(256 + 64 * i);
	pr_info("leaked 8 objects of 256 to 704 bytes\n");
}

static void splat_lockdep(void)
{
	/* A before B, then B before A: a possible deadlock, never a real one. */
	mutex_lock(&splat_a);
	mutex_lock(&splat_b);
	mutex_unlock(&splat_b);
	mutex_unlock(&splat_a);

	mutex_lock(&splat_b);
	mutex_lock(&splat_a);
	mutex_unlock(&splat_a);
	mutex_unlock(&splat_b);
}

static void splat_oops(void)
{
	int *p = NULL;

	OPTIMIZER_HIDE_VAR(p);
	pr_info("NULL dereference: %d\n", READ_ONCE(*p));
}

static void splat_slub(void)
{
	struct kmem_cache *c = kmem_cache_create("bio-qcow2-splat", 64, 0, 0, NULL);
	void *p;

	if (!c)
		return;
	p = kmem_cache_alloc(c, GFP_KERNEL);
	if (p) {
		kmem_cache_free(c, p);
		OPTIMIZER_HIDE_VAR(p);
		kmem_cache_free(c, p);
	}
	kmem_cache_destroy(c);
}

static int __init splat_init(void)
{
	char *list = kstrdup(provoke, GFP_KERNEL), *rest, *what;

	if (!list)
		return -ENOMEM;
	rest = list;
	while ((what = strsep(&rest, ","))) {
		if (!strcmp(what, "warn"))
			WARN(1, "qcow2_splat: provoked warning\n");
		else if (!strcmp(what, "kasan"))
			splat_kasan();
		else if (!strcmp(what, "leak"))
			splat_leak();
		else if (!strcmp(what, "lockdep"))
			splat_lockdep();
		else if (!strcmp(what, "oops"))
			splat_oops();
		else if (!strcmp(what, "slub"))
			splat_slub();
		else if (!strcmp(what, "pin"))
			__module_get(THIS_MODULE);	/* never put: rmmod fails */
		else if (*what)
			pr_err("unknown provocation '%s'\n", what);
	}
	kfree(list);
	return 0;
}

static void __exit splat_exit(void)
{
}

module_init(splat_init);
module_exit(splat_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("qcow2 test harness: provokes kernel splats on purpose");
MODULE_AUTHOR("The qcow2 block driver authors");
