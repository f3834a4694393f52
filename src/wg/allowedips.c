/* Cryptokey routing: a path-compressed binary trie per family with each
 * owned node also linked into its owner's list (the Linux driver's design). */
#include "wg/allowedips.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * Addresses are held as a 128-bit big-endian number in two host-order words,
 * left-aligned, so that bit i (0 = most significant) is the i-th bit of the
 * prefix for both families: an IPv4 address lives in the top half of hi.
 * Bits past a node's cidr are always zero.
 *
 * A node without an owner is an intermediate node; it always has exactly two
 * children, which is what lets removal collapse at most one level.
 */
struct ip_key {
	uint64_t hi, lo;
};

struct allowedips_node {
	struct allowedips_node *bit[2];
	struct allowedips_node *parent;
	void *owner;
	struct allowedips_list *list; /* the owner's; NULL when ownerless */
	struct allowedips_node *list_prev, *list_next;
	struct ip_key key;
	uint8_t cidr, bitlen;
};

static struct allowedips_node **root_for(struct allowedips *t, int family,
					 uint8_t *bitlen)
{
	if (family == AF_INET) {
		*bitlen = 32;
		return &t->root4;
	}
	if (family == AF_INET6) {
		*bitlen = 128;
		return &t->root6;
	}
	return NULL;
}

static void key_load(struct ip_key *k, uint8_t bitlen, const void *addr)
{
	uint32_t v4;
	uint64_t v6[2];

	if (bitlen == 32) {
		memcpy(&v4, addr, sizeof(v4));
		k->hi = (uint64_t)be32toh(v4) << 32;
		k->lo = 0;
	} else {
		memcpy(v6, addr, sizeof(v6));
		k->hi = be64toh(v6[0]);
		k->lo = be64toh(v6[1]);
	}
}

static void key_store(void *addr, const struct ip_key *k, uint8_t bitlen)
{
	uint32_t v4;
	uint64_t v6[2];

	if (bitlen == 32) {
		v4 = htobe32((uint32_t)(k->hi >> 32));
		memcpy(addr, &v4, sizeof(v4));
	} else {
		v6[0] = htobe64(k->hi);
		v6[1] = htobe64(k->lo);
		memcpy(addr, v6, sizeof(v6));
	}
}

static void key_mask(struct ip_key *k, uint8_t cidr)
{
	if (cidr == 0) {
		k->hi = 0;
		k->lo = 0;
	} else if (cidr <= 64) {
		k->hi &= ~0ULL << (64 - cidr);
		k->lo = 0;
	} else {
		k->lo &= ~0ULL << (128 - cidr);
	}
}

/* Leading bits a and b agree on, 0..128. */
static unsigned int common_bits(const struct ip_key *a, const struct ip_key *b)
{
	uint64_t x = a->hi ^ b->hi;

	if (x)
		return (unsigned int)__builtin_clzll(x);
	x = a->lo ^ b->lo;
	if (x)
		return 64 + (unsigned int)__builtin_clzll(x);
	return 128;
}

static bool prefix_matches(const struct allowedips_node *node,
			   const struct ip_key *k)
{
	return common_bits(&node->key, k) >= node->cidr;
}

/* The child of node on k's side; only meaningful when node->cidr < 128. */
static unsigned int choose(const struct allowedips_node *node,
			   const struct ip_key *k)
{
	unsigned int b = node->cidr;

	if (b < 64)
		return (k->hi >> (63 - b)) & 1;
	return (k->lo >> (127 - b)) & 1;
}

static struct allowedips_node **slot_of(struct allowedips *t,
					struct allowedips_node *node)
{
	struct allowedips_node *parent = node->parent;

	if (parent)
		return &parent->bit[parent->bit[1] == node];
	return node->bitlen == 32 ? &t->root4 : &t->root6;
}

static void link_at(struct allowedips_node **slot,
		    struct allowedips_node *parent,
		    struct allowedips_node *child)
{
	*slot = child;
	child->parent = parent;
}

static void link_below(struct allowedips_node *parent,
		       struct allowedips_node *child)
{
	link_at(&parent->bit[choose(parent, &child->key)], parent, child);
}

static struct allowedips_node *node_new(const struct ip_key *k, uint8_t cidr,
					uint8_t bitlen)
{
	struct allowedips_node *node = calloc(1, sizeof(*node));

	if (!node)
		return NULL;
	node->key = *k;
	key_mask(&node->key, cidr);
	node->cidr = cidr;
	node->bitlen = bitlen;
	return node;
}

static void list_unlink(struct allowedips_node *node)
{
	struct allowedips_list *list = node->list;

	if (!list)
		return;
	if (node->list_prev)
		node->list_prev->list_next = node->list_next;
	else
		list->first = node->list_next;
	if (node->list_next)
		node->list_next->list_prev = node->list_prev;
	else
		list->last = node->list_prev;
	list->count--;
	node->list = NULL;
	node->list_prev = NULL;
	node->list_next = NULL;
	node->owner = NULL;
}

/* Gives node to owner, at the tail of owner's list. */
static void set_owner(struct allowedips_node *node, void *owner,
		      struct allowedips_list *list)
{
	list_unlink(node);
	node->owner = owner;
	node->list = list;
	node->list_prev = list->last;
	node->list_next = NULL;
	if (list->last)
		list->last->list_next = node;
	else
		list->first = node;
	list->last = node;
	list->count++;
}

/* The node holding exactly k/cidr, owned or not, or NULL. */
static struct allowedips_node *find_exact(struct allowedips_node *node,
					  const struct ip_key *k, uint8_t cidr)
{
	while (node && node->cidr <= cidr && prefix_matches(node, k)) {
		if (node->cidr == cidr)
			return node;
		node = node->bit[choose(node, k)];
	}
	return NULL;
}

void allowedips_init(struct allowedips *t)
{
	t->root4 = NULL;
	t->root6 = NULL;
}

/* Frees a whole trie without recursion, emptying the owners' lists as the
 * Linux driver does, so no owner is left pointing into freed memory. */
static void free_trie(struct allowedips_node *node)
{
	struct allowedips_node *next;

	while (node) {
		if (node->bit[0]) {
			next = node->bit[0];
			node->bit[0] = NULL;
		} else if (node->bit[1]) {
			next = node->bit[1];
			node->bit[1] = NULL;
		} else {
			next = node->parent;
			if (node->list)
				memset(node->list, 0, sizeof(*node->list));
			free(node);
		}
		node = next;
	}
}

void allowedips_free(struct allowedips *t)
{
	free_trie(t->root4);
	free_trie(t->root6);
	allowedips_init(t);
}

int allowedips_insert(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, void *owner, struct allowedips_list *list)
{
	struct allowedips_node **root, *parent = NULL, *down, *node, *mid;
	struct allowedips_node **slot;
	struct ip_key k;
	unsigned int common;
	uint8_t bitlen;

	root = root_for(t, family, &bitlen);
	if (!root || cidr > bitlen || !owner || !list)
		return -EINVAL;
	key_load(&k, bitlen, addr);
	key_mask(&k, cidr);

	/* Descend while the node is a prefix of the new one. */
	down = *root;
	while (down && down->cidr <= cidr && prefix_matches(down, &k)) {
		if (down->cidr == cidr) {
			set_owner(down, owner, list);
			return 0;
		}
		parent = down;
		down = down->bit[choose(down, &k)];
	}
	slot = parent ? &parent->bit[choose(parent, &k)] : root;

	node = node_new(&k, cidr, bitlen);
	if (!node)
		return -ENOMEM;

	if (!down) {
		link_at(slot, parent, node);
		goto out;
	}
	common = common_bits(&down->key, &k);
	if (common >= cidr) {
		/* The new prefix covers down: it goes in between. */
		link_below(node, down);
		link_at(slot, parent, node);
		goto out;
	}
	/* They diverge at bit common: join them under an ownerless node. */
	mid = node_new(&k, (uint8_t)common, bitlen);
	if (!mid) {
		free(node);
		return -ENOMEM;
	}
	link_below(mid, down);
	link_below(mid, node);
	link_at(slot, parent, mid);
out:
	set_owner(node, owner, list);
	return 0;
}

static void remove_node(struct allowedips *t, struct allowedips_node *node)
{
	struct allowedips_node *child, *parent, *other;

	list_unlink(node);
	if (node->bit[0] && node->bit[1])
		return; /* stays as an intermediate node */

	child = node->bit[0] ? node->bit[0] : node->bit[1];
	parent = node->parent;
	if (child)
		link_at(slot_of(t, node), parent, child);
	else
		*slot_of(t, node) = NULL;
	free(node);

	/* An ownerless parent that just lost a leaf has one child left. */
	if (child || !parent || parent->owner)
		return;
	other = parent->bit[0] ? parent->bit[0] : parent->bit[1];
	link_at(slot_of(t, parent), parent->parent, other);
	free(parent);
}

int allowedips_remove(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, void *owner, struct allowedips_list *list)
{
	struct allowedips_node **root, *node;
	struct ip_key k;
	uint8_t bitlen;

	root = root_for(t, family, &bitlen);
	if (!root || cidr > bitlen)
		return -EINVAL;
	key_load(&k, bitlen, addr);
	key_mask(&k, cidr);

	node = find_exact(*root, &k, cidr);
	if (!node || !owner || node->owner != owner)
		return -ENOENT;
	remove_node(t, node);
	return 0;
}

void allowedips_remove_by_owner(struct allowedips *t, void *owner,
				struct allowedips_list *list)
{
	struct allowedips_node *node, *next;

	/* remove_node frees only this node and possibly an ownerless parent,
	 * never another member of the list. */
	for (node = list->first; node; node = next) {
		next = node->list_next;
		remove_node(t, node);
	}
}

void *allowedips_lookup(const struct allowedips *t, int family,
			const void *addr)
{
	const struct allowedips_node *node;
	struct ip_key k;
	void *found = NULL;
	uint8_t bitlen;

	if (family == AF_INET) {
		node = t->root4;
		bitlen = 32;
	} else if (family == AF_INET6) {
		node = t->root6;
		bitlen = 128;
	} else {
		return NULL;
	}
	key_load(&k, bitlen, addr);

	while (node && prefix_matches(node, &k)) {
		if (node->owner)
			found = node->owner;
		if (node->cidr == bitlen)
			break;
		node = node->bit[choose(node, &k)];
	}
	return found;
}

int allowedips_walk(const struct allowedips_list *list,
		    int (*fn)(void *ctx, int family, const void *addr,
			      uint8_t cidr),
		    void *ctx)
{
	const struct allowedips_node *node;
	uint8_t addr[16];
	int ret;

	for (node = list->first; node; node = node->list_next) {
		key_store(addr, &node->key, node->bitlen);
		ret = fn(ctx, node->bitlen == 32 ? AF_INET : AF_INET6, addr,
			 node->cidr);
		if (ret)
			return ret;
	}
	return 0;
}
