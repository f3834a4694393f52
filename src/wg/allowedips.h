/* Cryptokey routing table: longest-prefix match from an inner IP address to
 * the peer that owns it, one binary trie per family (the Linux driver's
 * allowedips.c). No I/O, no locking: the owner of the table serialises. */
#ifndef SPOKEWIRE_WG_ALLOWEDIPS_H
#define SPOKEWIRE_WG_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct allowedips_node;

/* Embedded in each owner (peer): its prefixes, in insertion order. */
struct allowedips_list {
	struct allowedips_node *first, *last;
	size_t count;
};

struct allowedips {
	struct allowedips_node *root4, *root6;
};

void allowedips_init(struct allowedips *t);
void allowedips_free(struct allowedips *t);

/* Points family/addr/cidr at owner (AF_INET or AF_INET6; addr is 4 or 16
 * bytes, host bits are cleared). A prefix owned by another owner moves to
 * this one (and to the end of this owner's list). Returns 0, -EINVAL for a
 * bad family or cidr, or -ENOMEM. */
int allowedips_insert(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, void *owner, struct allowedips_list *list);
/* Removes the prefix if owner holds it; 0, or -ENOENT. */
int allowedips_remove(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, void *owner, struct allowedips_list *list);
void allowedips_remove_by_owner(struct allowedips *t, void *owner,
				struct allowedips_list *list);
/* Owner of the longest matching prefix, or NULL. Borrowed pointer. */
void *allowedips_lookup(const struct allowedips *t, int family,
			const void *addr);

/* Calls fn for each prefix in list, in insertion order; stops and returns
 * fn's value when it is non-zero. */
int allowedips_walk(const struct allowedips_list *list,
		    int (*fn)(void *ctx, int family, const void *addr,
			      uint8_t cidr),
		    void *ctx);

#endif
